#!/usr/bin/env python3
"""Checks deploy/docker/Dockerfile against what scripts/package.sh builds, without Docker.

    check_dockerfile.py SOURCE_DIR BUILD_DIR VERSION

1. Builds the release package from BUILD_DIR (scripts/package.sh, into a
   temporary dist/), as the Dockerfile's instructions expect it.
2. Lays out every stage of the Dockerfile in temporary directories the way
   docker build would: ARG defaults (DJINN_VERSION=VERSION as --build-arg),
   ADD of a local .tar.gz extracts it, COPY copies a directory's contents,
   COPY --from takes from an earlier stage. Every ADD/COPY source must exist
   and be let through by Dockerfile.dockerignore. RUN is not emulated and
   is refused: the image is assembled declaratively.
3. Checks the final stage: the ENTRYPOINT's binary and its --flagfile exist;
   USER is numeric, not root, and the runAsUser of the Kubernetes Deployment;
   EXPOSE lists the ports of the flags file's --listen and --metrics_listen;
   ARG DJINN_VERSION defaults to the project's version.
4. Runs the ENTRYPOINT from that layout (djinnd from /opt/djinn with the
   image's flags file, on the CPU: --device, the addresses, the budget and the
   model root overridden after it) until it logs ready, then stops it with
   SIGTERM and expects exit status 0.

Exits 0 when every check passes; prints FAIL: and exits 1 otherwise.
"""
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import json

FAILURES = []


def fail(message):
    FAILURES.append(message)
    print("FAIL: " + message, flush=True)


def die(message):
    print("FAIL: " + message, flush=True)
    sys.exit(1)


def instructions(path):
    """(KEYWORD, rest) per instruction: comments dropped, continuations joined."""
    out, current = [], ""
    with open(path) as f:
        for raw in f:
            line = raw.rstrip("\n")
            if not current and (line.strip().startswith("#") or not line.strip()):
                continue
            if line.strip().startswith("#"):
                continue  # a comment inside a continued instruction
            if line.endswith("\\"):
                current += line[:-1] + " "
                continue
            current += line
            keyword, _, rest = current.strip().partition(" ")
            out.append((keyword.upper(), rest.strip()))
            current = ""
    return out


def substitute(text, env):
    def repl(m):
        name = m.group(1) or m.group(2)
        if name not in env:
            die("variable %s is not defined at %r" % (name, text))
        return env[name]
    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)", repl, text)


def docker_pattern(pattern):
    """A .dockerignore pattern as a regex (Go's filepath.Match, plus ** for any depth)."""
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile("^" + out + "$")


def dockerignore_allows(patterns, rel):
    """Docker's rule: the last pattern matching the path or one of its parents wins."""
    parts = rel.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    allowed = True
    for pattern in patterns:
        negate = pattern.startswith("!")
        regex = docker_pattern(pattern[1:] if negate else pattern)
        if any(regex.match(p) for p in prefixes):
            allowed = negate
    return allowed


def copy_into(src, dest, root):
    """COPY/ADD of one local source to dest (an absolute path in the image)."""
    target = os.path.join(root, dest.lstrip("/"))
    if os.path.isdir(src):
        os.makedirs(target, exist_ok=True)
        shutil.copytree(src, target, symlinks=True, dirs_exist_ok=True)
    else:
        if dest.endswith("/"):
            os.makedirs(target, exist_ok=True)
            target = os.path.join(target, os.path.basename(src))
        else:
            os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(src, target)


def main():
    if len(sys.argv) != 4:
        die("usage: check_dockerfile.py SOURCE_DIR BUILD_DIR VERSION")
    source, build, version = sys.argv[1:]
    dockerfile = os.path.join(source, "deploy/docker/Dockerfile")
    ignore_file = dockerfile + ".dockerignore"
    patterns = [l.strip() for l in open(ignore_file) if l.strip() and not l.strip().startswith("#")]
    work = tempfile.mkdtemp(prefix="djinn-dockerfile-")
    try:
        # 1. The package, where the build context has it (dist/ of the repository root).
        dist = os.path.join(work, "dist")
        print("+ scripts/package.sh %s %s %s" % (build, dist, version), flush=True)
        subprocess.run([os.path.join(source, "scripts/package.sh"), build, dist, version], check=True,
                       stdout=subprocess.DEVNULL)

        def context_path(rel):
            if not dockerignore_allows(patterns, rel):
                fail("%s is excluded from the build context by Dockerfile.dockerignore" % rel)
            path = os.path.join(work, rel) if rel.startswith("dist/") else os.path.join(source, rel)
            if not os.path.exists(path):
                fail("ADD/COPY source %s does not exist (package.sh wrote: %s)" % (rel, ", ".join(sorted(os.listdir(dist)))))
                return None
            return path

        # 2. The stages.
        global_args = {}
        stages = {}
        stage = None
        final = {}
        for keyword, rest in instructions(dockerfile):
            if keyword == "ARG":
                name, _, default = rest.partition("=")
                value = version if name == "DJINN_VERSION" else default
                if name == "DJINN_VERSION" and default != version:
                    fail("ARG DJINN_VERSION defaults to %r, the project's version is %s" % (default, version))
                (stage["env"] if stage else global_args)[name] = value
            elif keyword == "FROM":
                words = rest.split()
                image = substitute(words[0], global_args)
                name = words[2] if len(words) == 3 and words[1].upper() == "AS" else str(len(stages))
                root = os.path.join(work, "stage-%d" % len(stages))
                os.makedirs(root)
                stage = {"image": image, "root": root, "env": {}, "user": None, "expose": [], "entrypoint": None}
                stages[name] = stage
            elif keyword in ("ADD", "COPY"):
                words = shlex.split(rest)
                options = [w for w in words if w.startswith("--")]
                args = [substitute(w, {**global_args, **stage["env"]}) for w in words if not w.startswith("--")]
                src_stage = None
                for o in options:
                    if o.startswith("--from="):
                        src_stage = stages.get(o[len("--from="):])
                        if src_stage is None:
                            die("%s %s: no stage %s" % (keyword, rest, o))
                    elif not o.startswith(("--chown=", "--chmod=", "--link")):
                        die("%s option %s is not emulated" % (keyword, o))
                *sources, dest = args
                for src in sources:
                    if src_stage is not None:
                        path = os.path.join(src_stage["root"], src.lstrip("/"))
                        if not os.path.exists(path):
                            fail("COPY --from source %s does not exist in that stage (it has: %s)"
                                 % (src, ", ".join(sorted(os.listdir(src_stage["root"])))))
                            continue
                    else:
                        path = context_path(src)
                        if path is None:
                            continue
                    if keyword == "ADD" and src_stage is None and re.search(r"\.tar(\.gz)?$|\.tgz$", src):
                        target = os.path.join(stage["root"], dest.lstrip("/"))
                        os.makedirs(target, exist_ok=True)
                        with tarfile.open(path) as tar:
                            for member in tar.getmembers():
                                if member.name.startswith("/") or ".." in member.name.split("/"):
                                    die("tarball member %s escapes the target" % member.name)
                            tar.extractall(target)
                    else:
                        copy_into(path, dest, stage["root"])
            elif keyword == "ENV":
                for word in shlex.split(rest):
                    name, _, value = word.partition("=")
                    stage["env"][name] = value
            elif keyword == "USER":
                stage["user"] = rest
            elif keyword == "EXPOSE":
                stage["expose"] += [int(p.split("/")[0]) for p in rest.split()]
            elif keyword == "ENTRYPOINT":
                try:
                    stage["entrypoint"] = json.loads(rest)
                except ValueError:
                    fail("ENTRYPOINT is not in exec form (a JSON array): %s" % rest)
            elif keyword in ("LABEL", "WORKDIR"):
                pass
            else:
                die("%s is not emulated by this check (keep the image declarative, or teach check_dockerfile.py)" % keyword)
        final = stage

        # 3. The final stage.
        if not final["image"].startswith("nvidia/cuda:"):
            fail("the final stage is based on %s, not an nvidia/cuda image" % final["image"])
        root = final["root"]
        entry = final["entrypoint"] or []
        if not entry:
            die("no ENTRYPOINT")
        binary = os.path.join(root, entry[0].lstrip("/"))
        if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
            die("ENTRYPOINT %s is not an executable file of the image" % entry[0])
        flagfiles = [a[len("--flagfile="):] for a in entry[1:] if a.startswith("--flagfile=")]
        if len(flagfiles) != 1:
            die("ENTRYPOINT has no --flagfile=: %s" % entry)
        flagfile = os.path.join(root, flagfiles[0].lstrip("/"))
        if not os.path.isfile(flagfile):
            die("ENTRYPOINT's flags file %s is not in the image" % flagfiles[0])
        flags = {}
        for line in open(flagfile):
            m = re.match(r"^--([a-z_]+)=(.*)$", line.strip())
            if m:
                flags[m.group(1)] = m.group(2)
        ports = {int(flags[f].rsplit(":", 1)[1]) for f in ("listen", "metrics_listen") if f in flags}
        if set(final["expose"]) != ports or len(ports) != 2:
            fail("EXPOSE %s, but the flags file listens on %s" % (final["expose"], sorted(ports)))
        user = (final["user"] or "0").split(":")[0]
        if not user.isdigit() or int(user) == 0:
            fail("USER %s is not a numeric non-root id" % final["user"])
        deployment = open(os.path.join(source, "deploy/kubernetes/base/deployment.yaml")).read()
        run_as = re.findall(r"runAsUser: *([0-9]+)", deployment)
        if run_as != [user]:
            fail("USER %s, but deploy/kubernetes/base/deployment.yaml has runAsUser %s" % (user, run_as))
        for need in ("bin/djinnd", "bin/djinnctl", "lib", "MANIFEST.txt"):
            if not os.path.exists(os.path.join(os.path.dirname(os.path.dirname(binary)), need)):
                fail("the package in the image has no %s" % need)

        # 4. Run the ENTRYPOINT from the image's layout.
        argv = [binary] + ["--flagfile=" + flagfile] + [a for a in entry[1:] if not a.startswith("--flagfile=")]
        argv += ["--device=cpu", "--vram_budget=64MiB", "--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0",
                 "--model_root=" + work]
        log_path = os.path.join(work, "djinnd.log")
        print("+ " + " ".join(argv), flush=True)
        with open(log_path, "w") as log:
            proc = subprocess.Popen(argv, stdout=log, stderr=log, env={"PATH": "/usr/bin:/bin"})
        ready = False
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if '"msg":"ready"' in open(log_path).read():
                ready = True
                break
            time.sleep(0.1)
        if ready:
            proc.send_signal(signal.SIGTERM)
        else:
            proc.kill()
        code = proc.wait(timeout=60)
        log_text = open(log_path).read()
        if not ready:
            fail("djinnd from the image layout did not get ready; its log:\n" + log_text)
        elif code != 0:
            fail("djinnd from the image layout exited %d after SIGTERM; its log:\n%s" % (code, log_text))
        else:
            print("djinnd from the image layout: ready, stopped with exit status 0", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if FAILURES:
        sys.exit(1)
    print("ok: deploy/docker/Dockerfile matches scripts/package.sh's package (version %s)" % version)


if __name__ == "__main__":
    main()
