// Validates rendered Kubernetes manifests (multi-document YAML files) offline:
//
//   node validate-manifests.mjs [--djinn OPTIONS_JSON] FILE...
//   node validate-manifests.mjs --print-flagfile FILE   (djinnd's flags file in FILE)
//
// For every object of every FILE:
//   1. schema: the JSON schema of its apiVersion/kind, from the Kubernetes 1.34
//      OpenAPI spec (npm kubernetes-models) or, for monitoring.coreos.com/v1
//      (ServiceMonitor), the prometheus-operator CRD's openAPIV3Schema
//      (npm @kubernetes-models/prometheus-operator). Types, formats, enums,
//      required fields. An apiVersion/kind without a schema is an error.
//   2. strict: unknown fields (a misspelt key is silently dropped by the API
//      server's schema but is an error here, as with kubectl's strict field
//      validation). The OpenAPI schemas do not forbid extra properties, so each
//      object is type-checked by the TypeScript compiler as an object literal
//      of the same package's interface for its kind (excess property checks).
//   3. with --djinn: the djinnd deployment's own rules (checkDjinn below): one
//      GPU, gRPC probes on the health service djinnd registers, flags file
//      consistent with ports, mounts and grace periods, Services and the
//      ServiceMonitor selecting what they should.
//
// Prints "FILE: ok (N objects)" or one "FILE: KIND/NAME: error" line per
// problem; exits 1 if any file has a problem. Must run from a directory whose
// node_modules has the packages of package.json (tests/deploy/k8s/tools.sh).
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import YAML from "yaml";
import ts from "typescript";

const HERE = path.dirname(fileURLToPath(import.meta.url));

function moduleFor(apiVersion) {
  if (apiVersion === "monitoring.coreos.com/v1") {
    return "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";
  }
  if (typeof apiVersion !== "string" || !/^([a-z0-9.-]+\/)?v[0-9a-z]+$/.test(apiVersion)) return null;
  return `kubernetes-models/${apiVersion}`;
}

function label(obj) {
  return `${obj?.kind ?? "?"}/${obj?.metadata?.name ?? "?"}`;
}

// --- 1. schema ---------------------------------------------------------------
async function schemaCheck(obj, report) {
  const mod = moduleFor(obj?.apiVersion);
  let Model;
  if (mod !== null) {
    try {
      Model = (await import(`${mod}/${obj.kind}`))[obj.kind];
    } catch {
      Model = undefined;
    }
  }
  if (typeof Model !== "function") {
    report(`no schema for apiVersion ${obj?.apiVersion} kind ${obj?.kind}`);
    return null;
  }
  try {
    new Model(obj).validate();
  } catch (e) {
    report(`schema: ${e.message}`);
  }
  return mod;
}

// --- 2. strict (TypeScript excess property checks) ----------------------------
// Every object becomes one line `export const oN: IKind = {...};` of a virtual
// .ts file per input file, so a diagnostic's line names the object.
function strictCheck(units) {
  const files = new Map();
  units.forEach((unit, u) => {
    const imports = [];
    const lines = [];
    unit.objects.forEach((o, i) => {
      if (o.module === null) return;
      imports.push(`import type { I${o.obj.kind} as T${i} } from "${o.module}/${o.obj.kind}";`);
      lines.push({ i, text: `export const o${i}: T${i} = ${JSON.stringify(o.obj)};` });
    });
    const name = path.join(HERE, `strict-${u}.ts`);
    const header = imports.length;
    files.set(name, {
      unit,
      text: [...imports, ...lines.map((l) => l.text)].join("\n") + "\n",
      objectAtLine: (line) => lines[line - header]?.i,
    });
  });
  const options = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, version, ...rest) =>
    files.has(name) ? ts.createSourceFile(name, files.get(name).text, version) : getSourceFile(name, version, ...rest);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => files.has(name) || fileExists(name);
  const readFile = host.readFile.bind(host);
  host.readFile = (name) => (files.has(name) ? files.get(name).text : readFile(name));
  const program = ts.createProgram([...files.keys()], options, host);
  for (const d of ts.getPreEmitDiagnostics(program)) {
    const message = ts.flattenDiagnosticMessageText(d.messageText, " ");
    const file = d.file && files.get(d.file.fileName);
    if (!file) {
      // A diagnostic outside our files (a broken install): fail every unit.
      units.forEach((unit) => unit.errors.push(`strict: TypeScript: ${message}`));
      continue;
    }
    const { line } = d.file.getLineAndCharacterOfPosition(d.start ?? 0);
    const i = file.objectAtLine(line);
    const where = i === undefined ? "(imports)" : label(file.unit.objects[i].obj);
    file.unit.errors.push(`${where}: strict: ${message}`);
  }
}

// --- 3. djinnd's own rules -----------------------------------------------------
function durationSeconds(text) {
  // absl::Duration: a sequence of NUMBER UNIT, e.g. 30s, 1m30s, 500ms, 1.5h.
  const units = { ns: 1e-9, us: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };
  const re = /([0-9]+(?:\.[0-9]+)?)(ns|us|ms|s|m|h)/gy;
  let total = 0;
  let m;
  let end = 0;
  while ((m = re.exec(text)) !== null) {
    total += parseFloat(m[1]) * units[m[2]];
    end = re.lastIndex;
  }
  return end === text.length && end > 0 ? total : NaN;
}

function portOf(address) {
  const m = /:([0-9]+)$/.exec(address ?? "");
  return m ? Number(m[1]) : NaN;
}

function selects(selector, labels) {
  return Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v);
}

// The content of FILE as container c of podSpec sees it, when FILE is a key
// of a ConfigMap mounted (whole) at FILE's directory; else undefined.
function configMapFile(objects, podSpec, c, file) {
  const mount = (c.volumeMounts ?? []).find((m) => path.posix.dirname(file) === m.mountPath && !m.subPath);
  const volume = mount && (podSpec.volumes ?? []).find((v) => v.name === mount.name);
  const cm = volume?.configMap && objects.find((o) => o.kind === "ConfigMap" && o.metadata?.name === volume.configMap.name);
  return cm?.data?.[path.posix.basename(file)];
}

// The flags file djinnd of the (one) Deployment reads, as text.
function djinndFlagsFile(objects) {
  const dep = objects.find((o) => o.kind === "Deployment");
  const podSpec = dep?.spec?.template?.spec ?? {};
  const c = (podSpec.containers ?? []).find((x) => x.name === "djinnd");
  const arg = [...(c?.command ?? []), ...(c?.args ?? [])].find((a) => a.startsWith("--flagfile="));
  return arg ? configMapFile(objects, podSpec, c, arg.slice("--flagfile=".length)) : undefined;
}

function checkDjinn(objects, opts, report) {
  const of = (kind) => objects.filter((o) => o.kind === kind);
  const workloads = objects.filter((o) => ["Deployment", "StatefulSet", "DaemonSet"].includes(o.kind));
  if (workloads.length !== 1) return report("djinn: expected one workload (Deployment), found " + workloads.length);
  const dep = workloads[0];
  const where = (msg) => report(`${label(dep)}: djinn: ${msg}`);
  const pod = dep.spec?.template ?? {};
  const podLabels = pod.metadata?.labels ?? {};
  const podSpec = pod.spec ?? {};
  if (!selects(dep.spec?.selector?.matchLabels, podLabels)) where("selector does not match the pod template's labels");
  const c = (podSpec.containers ?? []).find((x) => x.name === "djinnd");
  if (!c) return where("no container named djinnd");

  // One GPU per daemon.
  const gpu = c.resources?.limits?.["nvidia.com/gpu"];
  if (String(gpu) !== "1") where(`limits nvidia.com/gpu is ${gpu}, want 1`);

  // The command: the image's djinnd, reading its flags from a file.
  const argv = [...(c.command ?? []), ...(c.args ?? [])];
  if (opts.binary && argv[0] !== opts.binary) where(`runs ${argv[0]}, the image's djinnd is ${opts.binary}`);
  const flagfileArg = argv.find((a) => a.startsWith("--flagfile="));
  if (!flagfileArg) return where("djinnd gets no --flagfile");
  const flagfile = flagfileArg.slice("--flagfile=".length);
  if (opts.flagfile && flagfile !== opts.flagfile) where(`--flagfile=${flagfile}, the image's is ${opts.flagfile}`);
  if (argv.some((a) => a !== flagfileArg && a.startsWith("--") && a !== argv[0])) {
    where("flags outside the flags file: " + argv.filter((a) => a.startsWith("--") && a !== flagfileArg).join(" "));
  }
  const mounts = c.volumeMounts ?? [];
  const text = configMapFile(objects, podSpec, c, flagfile);
  if (typeof text !== "string") return where(`${flagfile} is not a key of a ConfigMap mounted at its directory`);

  // The flags file: known names only (absl does not turn dashes into
  // underscores in a flag file), each once (a repeated flag keeps only its
  // last value: several --model lines would preload only the last).
  const flags = {};
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const m = /^--([A-Za-z0-9_-]+)(?:=(.*))?$/.exec(line);
    if (!m) {
      where(`flags file line "${line}" is not --name=value`);
      continue;
    }
    if (opts.knownFlags && !opts.knownFlags.includes(m[1])) where(`flags file: unknown flag --${m[1]} (djinnd knows ${opts.knownFlags.join(", ")})`);
    if (m[1] in flags) where(`flags file: --${m[1]} given twice (only the last counts; put several models on one --model line, comma-separated)`);
    flags[m[1]] = m[2] ?? "";
  }
  const containerPort = (name) => (c.ports ?? []).find((p) => p.name === name)?.containerPort;
  const grpcPort = containerPort("grpc");
  const metricsPort = containerPort("metrics");
  if (grpcPort === undefined || portOf(flags.listen) !== grpcPort) where(`--listen=${flags.listen} does not match containerPort grpc (${grpcPort})`);
  if (metricsPort === undefined || portOf(flags.metrics_listen) !== metricsPort) where(`--metrics_listen=${flags.metrics_listen} does not match containerPort metrics (${metricsPort})`);
  if (!/^(0\.0\.0\.0|\[::\]):/.test(flags.listen ?? "")) where(`--listen=${flags.listen} is not reachable from other pods (use 0.0.0.0 or [::])`);
  const models = mounts.find((m) => m.mountPath === flags.model_root);
  if (!models) where(`--model_root=${flags.model_root} is not a volume mount`);
  else if (models.readOnly !== true) where(`the model volume (${models.mountPath}) is not mounted readOnly`);

  // Grace: the preStop pause plus djinnd's --shutdown_grace fit in the pod's.
  const grace = durationSeconds(flags.shutdown_grace ?? "10s");
  if (Number.isNaN(grace)) where(`--shutdown_grace=${flags.shutdown_grace} is not a duration`);
  const preStop = c.lifecycle?.preStop;
  let pause = 0;
  if (preStop?.sleep) pause = preStop.sleep.seconds;
  else if (preStop?.exec) {
    const cmd = preStop.exec.command ?? [];
    if (/(^|\/)sleep$/.test(cmd[0] ?? "") && cmd.length === 2) pause = Number(cmd[1]);
    else where("preStop exec is not a plain sleep N");
  }
  const podGrace = podSpec.terminationGracePeriodSeconds ?? 30;
  if (!(podGrace > pause + grace)) where(`terminationGracePeriodSeconds ${podGrace} is not above preStop ${pause} s + --shutdown_grace ${grace} s`);

  // Probes: native gRPC against the health service djinnd registers.
  for (const [name, wantService] of [["startupProbe", opts.healthService], ["readinessProbe", opts.healthService], ["livenessProbe", null]]) {
    const p = c[name];
    if (!p?.grpc) {
      where(`${name} is not a gRPC probe`);
      continue;
    }
    if (p.grpc.port !== grpcPort) where(`${name} probes port ${JSON.stringify(p.grpc.port)}, djinnd's gRPC port is ${grpcPort}`);
    const service = p.grpc.service ?? "";
    if (wantService && service !== wantService) where(`${name} checks service "${service}", djinnd reports health for "${wantService}"`);
    if (!wantService && service !== "" && service !== opts.healthService) where(`${name} checks service "${service}", which djinnd does not report`);
  }
  const sp = c.startupProbe;
  const startupBudget = (sp?.periodSeconds ?? 10) * (sp?.failureThreshold ?? 3);
  if (startupBudget < 600) where(`startupProbe allows only ${startupBudget} s for start-up and preloads (want at least 600)`);
  if (dep.kind === "Deployment" && (dep.spec?.progressDeadlineSeconds ?? 600) < startupBudget) {
    where(`progressDeadlineSeconds ${dep.spec?.progressDeadlineSeconds ?? 600} is below the startupProbe's ${startupBudget} s`);
  }

  // Not root, read-only root filesystem, no privilege escalation.
  const sc = { ...(podSpec.securityContext ?? {}), ...(c.securityContext ?? {}) };
  if (sc.runAsNonRoot !== true) where("runAsNonRoot is not true");
  if (sc.readOnlyRootFilesystem !== true) where("readOnlyRootFilesystem is not true");
  if (sc.allowPrivilegeEscalation !== false) where("allowPrivilegeEscalation is not false");

  // Services: each selects the pods and targets a port the container has.
  const services = of("Service");
  const hasPort = (target) => (c.ports ?? []).some((p) => p.name === target || p.containerPort === target);
  for (const s of services) {
    if (!selects(s.spec?.selector, podLabels) || Object.keys(s.spec?.selector ?? {}).length === 0) {
      report(`${label(s)}: djinn: selector does not select the djinnd pods`);
    }
    for (const p of s.spec?.ports ?? []) {
      if (!hasPort(p.targetPort ?? p.port)) report(`${label(s)}: djinn: targetPort ${p.targetPort} is no port of the djinnd container`);
    }
  }
  const servesGrpc = (s) => (s.spec?.ports ?? []).some((p) => p.targetPort === "grpc" || p.targetPort === grpcPort);
  if (!services.some((s) => s.spec?.clusterIP === "None" && servesGrpc(s))) report("djinn: no headless Service (clusterIP: None) for gRPC");
  if (!services.some((s) => s.spec?.clusterIP !== "None" && servesGrpc(s))) report("djinn: no ClusterIP Service for gRPC");
  const metricsServices = services.filter((s) => (s.spec?.ports ?? []).some((p) => p.targetPort === "metrics" || p.targetPort === metricsPort));
  if (metricsServices.length !== 1) return report(`djinn: expected one Service for metrics, found ${metricsServices.length}`);
  const ms = metricsServices[0];

  // ServiceMonitor: selects the metrics Service, scrapes its port, and the
  // job label it produces is the one the alerts select.
  const monitors = of("ServiceMonitor");
  if (monitors.length !== 1) return report(`djinn: expected one ServiceMonitor, found ${monitors.length}`);
  const sm = monitors[0];
  const smWhere = (msg) => report(`${label(sm)}: djinn: ${msg}`);
  if (!selects(sm.spec?.selector?.matchLabels, ms.metadata?.labels) || (sm.spec?.selector?.matchExpressions ?? []).length > 0) {
    smWhere(`selector does not select Service ${ms.metadata?.name}`);
  }
  if (sm.metadata?.namespace !== ms.metadata?.namespace && !sm.spec?.namespaceSelector) smWhere("is in another namespace than the metrics Service");
  for (const e of sm.spec?.endpoints ?? []) {
    if (!(ms.spec?.ports ?? []).some((p) => p.name === e.port)) smWhere(`endpoint port ${e.port} is no port name of Service ${ms.metadata?.name}`);
    if ((e.path ?? "/metrics") !== "/metrics") smWhere(`endpoint path ${e.path}: djinnd serves /metrics`);
  }
  if (opts.job) {
    const job = sm.spec?.jobLabel ? ms.metadata?.labels?.[sm.spec.jobLabel] : ms.metadata?.name;
    if (job !== opts.job) smWhere(`scraped as job "${job}", the alerts select job "${opts.job}"`);
  }
}

// --- main ---------------------------------------------------------------------
async function main(argv) {
  if (argv[0] === "--print-flagfile" && argv.length === 2) {
    const objects = YAML.parseAllDocuments(fs.readFileSync(argv[1], "utf8")).map((d) => d.toJS());
    const text = djinndFlagsFile(objects);
    if (typeof text !== "string") {
      console.error(`${argv[1]}: no flags file of djinnd found`);
      return 1;
    }
    process.stdout.write(text);
    return 0;
  }
  let djinn = null;
  const paths = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--djinn") djinn = JSON.parse(argv[++i]);
    else paths.push(argv[i]);
  }
  if (paths.length === 0) {
    console.error("usage: node validate-manifests.mjs [--djinn OPTIONS_JSON] FILE...");
    return 2;
  }
  const units = [];
  for (const file of paths) {
    const unit = { file, objects: [], errors: [] };
    units.push(unit);
    let docs;
    try {
      docs = YAML.parseAllDocuments(fs.readFileSync(file, "utf8"));
    } catch (e) {
      unit.errors.push(`cannot read: ${e.message}`);
      continue;
    }
    for (const doc of docs) {
      if (doc.errors.length > 0) {
        unit.errors.push(`YAML: ${doc.errors.map((e) => e.message).join("; ")}`);
        continue;
      }
      const obj = doc.toJS();
      if (obj === null || obj === undefined) continue;
      const module = await schemaCheck(obj, (msg) => unit.errors.push(`${label(obj)}: ${msg}`));
      unit.objects.push({ obj, module });
    }
    if (unit.objects.length === 0 && unit.errors.length === 0) unit.errors.push("no objects");
  }
  strictCheck(units);
  if (djinn) {
    for (const unit of units) checkDjinn(unit.objects.map((o) => o.obj), djinn, (msg) => unit.errors.push(msg));
  }
  let failed = false;
  for (const unit of units) {
    if (unit.errors.length === 0) {
      console.log(`${unit.file}: ok (${unit.objects.length} objects)`);
    } else {
      failed = true;
      for (const e of unit.errors) console.log(`${unit.file}: ${e}`);
    }
  }
  return failed ? 1 : 0;
}

process.exitCode = await main(process.argv.slice(2));
