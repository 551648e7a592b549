#!/usr/bin/env python3
"""Checks of deploy/prometheus and deploy/grafana that need no daemon.

    check_deploy.py SOURCE_DIR config      promtool check config prometheus.yml
    check_deploy.py SOURCE_DIR rules       promtool check rules rules/*.yml
    check_deploy.py SOURCE_DIR unit        promtool test rules tests/*.yml
    check_deploy.py SOURCE_DIR coverage    every alert has a firing and a not-firing
                                           unit test, every recording rule a test;
                                           every alert has a severity, a summary, a
                                           description and a comment above it
    check_deploy.py SOURCE_DIR dashboard   every PromQL expression of the Grafana
                                           dashboard parses (promtool check rules on
                                           the expressions, variables substituted)

Exits 0 when the check passes, 1 when it fails (promtool missing is a failure).
Python 3 standard library only: the rule files are read as text, in the shape
deploy/prometheus writes them (a YAML parser is not in the standard library).
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

SEVERITIES = {"critical", "warning", "info"}


def fail(message):
    print("FAIL: " + message, file=sys.stderr)
    sys.exit(1)


def promtool():
    path = shutil.which("promtool")
    if path is None:
        fail("promtool not found on PATH (Debian: apt-get install prometheus; scripts/install-deps.sh does)")
    return path


def run(argv, cwd):
    print("+ " + " ".join(argv), flush=True)
    result = subprocess.run(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    print(result.stdout, end="", flush=True)
    if result.returncode != 0:
        fail("%s exited %d" % (" ".join(argv), result.returncode))
    return result.stdout


def yml_files(directory):
    files = sorted(f for f in os.listdir(directory) if f.endswith(".yml") or f.endswith(".yaml"))
    if not files:
        fail("no .yml files in " + directory)
    return files


def check_config(prom):
    out = run([promtool(), "check", "config", "prometheus.yml"], prom)
    # The config must load both rule files (promtool counts what it found).
    if "SUCCESS: 2 rule files found" not in out:
        fail("prometheus.yml should reference the 2 rule files of rules/")


def check_rules(prom):
    run([promtool(), "check", "rules"] + ["rules/" + f for f in yml_files(os.path.join(prom, "rules"))], prom)


def check_unit(prom):
    run([promtool(), "test", "rules"] + ["tests/" + f for f in yml_files(os.path.join(prom, "tests"))], prom)


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def rules_in(text, kind):
    """Names of `- alert: NAME` or `- record: NAME` entries, in order."""
    return re.findall(r"^\s*- %s:\s*(\S+)\s*$" % kind, text, re.M)


def alert_blocks(text):
    """{name: (comment lines above it, the block's text)} for every alert."""
    lines = text.split("\n")
    starts = [i for i, line in enumerate(lines) if re.match(r"^\s*- alert:\s*\S+", line)]
    blocks = {}
    for n, start in enumerate(starts):
        name = lines[start].split(":", 1)[1].strip()
        end = starts[n + 1] if n + 1 < len(starts) else len(lines)
        comments = []
        i = start - 1
        while i >= 0 and lines[i].strip().startswith("#"):
            comments.insert(0, lines[i].strip())
            i -= 1
        blocks[name] = (comments, "\n".join(lines[start:end]))
    return blocks


def check_coverage(prom):
    alerts_text = read(os.path.join(prom, "rules", "djinn-alerts.yml"))
    recording_text = read(os.path.join(prom, "rules", "djinn-recording.yml"))
    alerts = rules_in(alerts_text, "alert")
    records = rules_in(recording_text, "record")
    if not alerts or not records:
        fail("no alerts or no recording rules found")
    problems = []

    # Every alert: a comment above it, a severity, summary and description.
    for name, (comments, block) in alert_blocks(alerts_text).items():
        if len(comments) < 2:
            problems.append("alert %s: no comment above it saying what it means and what to do" % name)
        severity = re.search(r"^\s*severity:\s*(\S+)\s*$", block, re.M)
        if severity is None or severity.group(1) not in SEVERITIES:
            problems.append("alert %s: severity label missing or not one of %s" % (name, sorted(SEVERITIES)))
        for annotation in ("summary", "description"):
            if not re.search(r"^\s*%s:\s*\S" % annotation, block, re.M):
                problems.append("alert %s: no %s annotation" % (name, annotation))

    # Unit tests: for every alert, one eval that expects it firing and one
    # that expects it not firing; every recording rule queried by a test.
    firing, quiet, tested_records = set(), set(), set()
    for test_file in yml_files(os.path.join(prom, "tests")):
        text = read(os.path.join(prom, "tests", test_file))
        for match in re.finditer(r"^\s*alertname:\s*(\S+)\s*\n\s*exp_alerts:(.*)$", text, re.M):
            (quiet if match.group(2).strip() == "[]" else firing).add(match.group(1))
        for match in re.finditer(r"^\s*- expr:\s*(.+)$", text, re.M):
            tested_records.update(re.findall(r"[a-zA-Z_][a-zA-Z0-9_]*:[a-zA-Z0-9_:]+", match.group(1)))
    for name in alerts:
        if name not in firing:
            problems.append("alert %s: no unit test where it fires" % name)
        if name not in quiet:
            problems.append("alert %s: no unit test where it does not fire" % name)
    for name in records:
        if name not in tested_records:
            problems.append("recording rule %s: no promql_expr_test queries it" % name)
    if problems:
        fail("\n  ".join([""] + problems))
    print("ok: %d alerts (each firing and not firing in a test), %d recording rules tested" %
          (len(alerts), len(records)))


def dashboard_exprs(dashboard):
    """(where, expr) for every panel target and every query variable."""
    exprs = []

    def panels(items):
        for panel in items:
            yield panel
            yield from panels(panel.get("panels", []))

    for panel in panels(dashboard.get("panels", [])):
        for target in panel.get("targets", []):
            if "expr" in target:
                exprs.append(("panel %r target %s" % (panel.get("title"), target.get("refId")), target["expr"]))
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") != "query":
            continue
        query = variable.get("query")
        query = query.get("query", "") if isinstance(query, dict) else query
        # label_values(SELECTOR, label): the selector is PromQL.
        match = re.match(r"^\s*label_values\((.*),\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)\s*$", query)
        exprs.append(("variable " + variable.get("name"), match.group(1) if match else query))
    return exprs


def check_dashboard(source):
    path = os.path.join(source, "deploy", "grafana", "dashboards", "djinn.json")
    dashboard = json.loads(read(path))
    exprs = dashboard_exprs(dashboard)
    if len(exprs) < 10:
        fail("only %d expressions found in %s" % (len(exprs), path))
    substitutions = {"$__rate_interval": "1m", "$__interval": "1m", "$__range": "1h",
                     "$instance": ".*", "$model": ".*"}
    lines = ["groups:", "  - name: dashboard", "    rules:"]
    for n, (where, expr) in enumerate(exprs):
        for variable, value in substitutions.items():
            expr = expr.replace(variable, value)
        if "$" in expr:
            fail("%s: unknown variable in %r" % (where, expr))
        lines.append("      # " + where)
        lines.append("      - record: dashboard:expr_%d" % n)
        lines.append("        expr: " + json.dumps(expr))
    with tempfile.TemporaryDirectory() as tmp:
        rules = os.path.join(tmp, "dashboard-exprs.yml")
        with open(rules, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        run([promtool(), "check", "rules", rules], tmp)
    print("ok: %d dashboard expressions parse" % len(exprs))


def main():
    if len(sys.argv) != 3:
        fail(__doc__)
    source, check = sys.argv[1], sys.argv[2]
    prom = os.path.join(source, "deploy", "prometheus")
    checks = {"config": lambda: check_config(prom), "rules": lambda: check_rules(prom),
              "unit": lambda: check_unit(prom), "coverage": lambda: check_coverage(prom),
              "dashboard": lambda: check_dashboard(source)}
    if check not in checks:
        fail("unknown check %r (one of %s)" % (check, ", ".join(checks)))
    checks[check]()


if __name__ == "__main__":
    main()
