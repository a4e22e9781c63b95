"""The table ``make bench`` prints, from the results JSON (so it can be re-rendered from a saved file)."""

from __future__ import annotations

from typing import Any


def _mb(size: int) -> str:
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / 1024 / 1024:.2f} MB"


_ORDER = ("entry", "validate", "track", "recommend", "filtertraits", "syncprofile")


def _function_order(name: str) -> int:
    """The workflow's order, for function names (``track``) and logical ids (``TrackFunction``)."""
    key = name.lower().removesuffix("function").replace("_", "")
    return _ORDER.index(key) if key in _ORDER else len(_ORDER)


def _goal(ok: bool) -> str:
    return "meets goal" if ok else "misses goal"


def render(results: dict[str, Any]) -> str:
    """The whole table: one section per measure, in this order."""
    lines: list[str] = []
    for section in (_header, _throughput, _acknowledgement, _memory, _cold_start, _packages, _cost, _quality):
        lines.extend(section(results))
    lines.extend(["", f"measured in {results['seconds']} s"])
    return "\n".join(lines)


def _header(results: dict[str, Any]) -> list[str]:
    machine = results["machine"]
    return [
        f"segment-personalize bench - Python {machine['python']}, {machine['cpus']} CPUs, "
        f"{machine['machine']}; every event is a known user's interaction (every step runs)"
    ]


def _throughput(results: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    add = lines.append
    t = results["throughput"]
    runs = t["runs"]
    add("")
    add("Throughput on the local stack (executions or baseline invocations per second)")
    add(f"  {'':34}{'sequential':>12}{'concurrent':>12}")
    add(
        f"  {'workflow (entry -> state machine)':34}{runs['workflowSequential']['perSecond']:>12.1f}"
        f"{runs['workflowConcurrent']['perSecond']:>12.1f}"
    )
    add(
        f"  {'single-function baseline':34}{runs['baselineSequential']['perSecond']:>12.1f}"
        f"{runs['baselineConcurrent']['perSecond']:>12.1f}"
    )
    ratio = t["workflowToBaseline"]
    add(f"  {'workflow / baseline':34}{ratio['sequential']:>12.2f}{ratio['concurrent']:>12.2f}")
    add(
        f"  {'moto as it comes (no speed-ups)':34}{t['motoAsItComes']['perSecond']:>12.1f}"
        f"{'':>12}  -> x{t['speedUpOverMotoAsItComes']:.1f} with them"
    )
    best = max(runs["workflowSequential"]["perSecond"], runs["workflowConcurrent"]["perSecond"])
    add(f"  goal {t['goalPerSecond']} executions/s: {best:.1f} ({_goal(best >= t['goalPerSecond'])})")
    if "cpu" in t:
        lines.extend(_cpu(t["cpu"], runs))
    check = t["historyCheck"]
    add(
        f"  history events: {'identical' if check['identical'] else 'DIFFERENT'} with and without the "
        f"speed-ups ({check['comparedExecutions']} executions"
        f"{' of the same messages' if 'expectedExecutions' in check else ''}, "
        f"{check['eventsPerExecution']} events each)"
    )
    failed = {name: run for name, run in _sends(results).items() if run["failures"]}
    add(f"  failed sends: {sum(run['failures'] for run in failed.values())}")
    for name, run in failed.items():
        add(f"    {run['failures']:>5}  {name}: {'; '.join(run.get('errors', [])) or 'no error kept'}")
    return lines


def _cpu(cpu: dict[str, Any], runs: dict[str, Any]) -> list[str]:
    """CPU per execution, the ceiling it gives, how close the concurrent run came, and where its CPU went."""
    lines = [
        f"  CPU per execution: {cpu['workflowStackMsPerExecution']:.1f} ms (baseline "
        f"{cpu['baselineStackMsPerInvocation']:.1f} ms), of which the handlers "
        f"{cpu['handlersMsPerExecution']:.1f} ms; on {cpu['cores']} cores, busy with nothing else: "
        f"at most {cpu['ceilingPerSecond']:.1f}/s "
        f"(handlers alone {cpu['handlersOnlyCeilingPerSecond']:.1f}/s)"
    ]
    if "concurrentToCeiling" in cpu:
        share, concurrent = cpu["concurrentToCeiling"], runs["workflowConcurrent"]["perSecond"]
        lines.append(
            f"  concurrent throughput next to that ceiling: {concurrent:.1f} of "
            f"{cpu['ceilingPerSecond']:.1f}/s = {share:.0%} "
            f"(goal >= {cpu['ceilingGoal']:.0%}: {_goal(share >= cpu['ceilingGoal'])})"
        )
    if "splitMsPerExecution" in cpu:
        split = cpu["splitMsPerExecution"]
        lines.append(
            f"  its CPU per execution: this process {split['mainProcess']:.1f} ms (moto's interpreter, local "
            f"Personalize and Segment, the invoke server), the sandboxes {split['sandboxes']:.1f} ms "
            f"({cpu['sandboxesStartedDuringRun']} cold starts during the run), the functions' DynamoDB and "
            f"Secrets Manager (moto, a process of its own) {split['servicesProcess']:.1f} ms"
        )
    shares = cpu.get("sharesOfCores")
    if shares:
        lines.append(
            f"  the cores meanwhile (/proc/stat): the stack {shares['stack']:.0%}, Segment's side (the "
            f"senders) {shares['senders']:.0%}, other processes {shares['otherProcesses']:.0%}, "
            f"idle {shares['idle']:.0%}"
        )
    return lines


def _sends(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every run that sent messages: the measured ones, moto as it comes, and the warm-ups."""
    t = results["throughput"]
    return {**t["runs"], "motoAsItComes": t["motoAsItComes"], **t.get("warmUps", {})}


def problems(results: dict[str, Any]) -> list[str]:
    """What makes ``make bench`` fail: a failed send, histories that differ, a replay that failed."""
    found = [
        f"{run['failures']} failed sends in {name}: {'; '.join(run.get('errors', []))}"
        for name, run in _sends(results).items()
        if run["failures"]
    ]
    check = results["throughput"]["historyCheck"]
    if not check["identical"]:
        found.append(
            f"history events differ with and without the speed-ups: {check['comparedExecutions']} of "
            f"{check.get('expectedExecutions', '?')} executions compared, different: {check.get('different')}"
        )
    for replay in results.get("memory", {}).get("replays", []):
        if replay["exitStatus"] != 0 or replay["outcomes"] != replay["messages"]:
            found.append(
                f"replay of {replay['messages']} lines: exit status {replay['exitStatus']}, "
                f"{replay['outcomes']} outcomes recorded"
            )
    return found


def _memory(results: dict[str, Any]) -> list[str]:
    title = "Peak memory of segment-personalize replay, a fresh process for each size"
    if "memory" not in results:
        return ["", f"{title}: not in this results file (make bench measures it)"]
    m = results["memory"]
    replays = m["replays"]
    ratio = m["largestToSmallest"]
    goal = f"goal: the larger within {round((m['goalRatio'] - 1) * 100)}% of the smaller"
    return [
        "",
        f"{title} ({goal})",
        f"  {'messages':26}" + "".join(f"{r['messages']:>12}" for r in replays),
        f"  {'all processes, peak (MB)':26}"
        + "".join(f"{r['peakMb']:>12.1f}" for r in replays)
        + f"   x{ratio:.2f} ({_goal(m['meetsGoal'])})",
        f"  {'processes at the peak':26}" + "".join(f"{r['processes']:>12}" for r in replays),
        *_roles_at_peak(replays),
        f"  {'largest process (MB)':26}" + "".join(f"{r['largestProcessPeakMb']:>12.1f}" for r in replays),
        f"  {'seconds':26}" + "".join(f"{r['seconds']:>12.1f}" for r in replays),
        f"  {'CPU ms per message':26}"
        + "".join(f"{r['cpuSeconds'] * 1000 / r['messages']:>12.1f}" for r in replays),
    ]


def _roles_at_peak(replays: list[dict[str, Any]]) -> list[str]:
    """A row per kind of process at the peak (the module it runs): how many, and their MB together."""
    roles = sorted({role for replay in replays for role in replay.get("atPeakMb", {})})
    rows = []
    for role in roles:
        cells = []
        for replay in replays:
            entry = replay["atPeakMb"].get(role, {"processes": 0, "mb": 0.0})
            cells.append(f"{entry['processes']} x {entry['mb'] / max(entry['processes'], 1):.0f}")
        rows.append(f"    {role.rsplit('.', 1)[-1] + ' (n x MB)':24}" + "".join(f"{c:>12}" for c in cells))
    return rows


def _acknowledgement(results: dict[str, Any]) -> list[str]:
    a = results["acknowledgement"]
    base = a["baseline"]
    return [
        "",
        "Acknowledgement: Segment's invoke until the answer (ms)",
        f"  {'':34}{'median':>12}{'p99':>12}",
        f"  {'entry (starts the execution)':34}{a['entry']['medianMs']:>12.1f}{a['entry']['p99Ms']:>12.1f}",
        f"  {'baseline (does all, synchronously)':34}{base['medianMs']:>12.1f}{base['p99Ms']:>12.1f}",
    ]


def _cold_start(results: dict[str, Any]) -> list[str]:
    if "coldStart" not in results:
        return []
    c = results["coldStart"]
    lines = [
        "",
        f"Cold start: import time, median of {c['repeat']} fresh interpreters (ms), and its ratio to "
        f"import boto3 timed alongside (goal <= {c['goalRatio']})",
        f"  {'':16}{'tracing off':>20}{'tracing on (deployed)':>26}{'floor: boto3 + its clients':>30}",
    ]
    boto = c["boto3Ms"]
    lines.append(f"  {'import boto3':16}{boto['tracingOff']:>13.1f}{'':>7}{boto['tracingOn']:>19.1f}")
    for name in sorted(c["functions"], key=_function_order):
        entry = c["functions"][name]
        off, on = entry["tracingOff"], entry["tracingOn"]
        line = f"  {name:16}{off['ms']:>13.1f}  x{off['ratio']:<5.2f}{on['ms']:>18.1f}  x{on['ratio']:<5.2f}"
        if "floor" in entry:
            floor = entry["floor"]
            clients = ", ".join(entry["clients"]) or "no client"
            line += f"{floor['ms']:>11.1f}  x{floor['ratio']:<5.2f} {clients}"
        lines.append(line)
    return lines


def _packages(results: dict[str, Any]) -> list[str]:
    if "packages" not in results:
        return []
    p = results["packages"]
    if "error" in p:
        return ["", f"Packages: not built ({p['error']})"]
    layer = p["sharedLayer"]["unzipped"]
    lines = [
        "",
        f"Packages for python3.12/arm64, unzipped (without boto3 and the Powertools layer; "
        f"goal <= {_mb(p['goalBytes'])} with the shared layer of {_mb(layer)})",
    ]
    for name in sorted(p["functions"], key=_function_order):
        size = p["functions"][name]
        ok = size["withSharedLayer"] <= p["goalBytes"]
        imports = p["importCheck"].get(name, {})
        note = ""
        if imports:
            note = f"; imports alone: {'ok' if imports['ok'] else 'FAILED ' + imports['detail']}"
        lines.append(
            f"  {name:22}{_mb(size['unzipped']):>10}  with layer {_mb(size['withSharedLayer']):>9} "
            f"({_goal(ok)}{note})"
        )
    return lines


def _cost(results: dict[str, Any]) -> list[str]:
    cost = results["cost"]
    pr = results["prices"]
    lines = [
        "",
        "Cost per million events, us-east-1 list prices: Standard "
        f"${pr['stepFunctionsStandardPerThousandTransitions']} per 1,000 transitions; Express "
        f"${pr['stepFunctionsExpressPerMillionRequests']:.2f} per million requests",
        f"  + ${pr['stepFunctionsExpressPerGbSecond']:.10f} per GB-s (100 ms, 64 MB); Lambda arm64 "
        f"${pr['lambdaArm64PerMillionRequests']:.2f} per million "
        f"+ ${pr['lambdaArm64PerGbSecond']:.10f} per GB-s (1 ms) at {cost['memoryMb']} MB",
        f"  {'':12}{'orchestration':>15}{'Lambda':>10}{'total':>10}  basis",
    ]
    designs = cost["perMillionEvents"]
    for design in sorted(designs, key=lambda d: ("STANDARD", "EXPRESS", "baseline").index(d)):
        entry = designs[design]
        lines.append(
            f"  {design:12}{entry['orchestration']:>15.2f}{entry['lambda']:>10.2f}{entry['total']:>10.2f}"
            f"  {entry['basis']}"
        )
    lines.append("  (durations measured on loopback; on AWS each step also waits on Personalize and Segment)")
    return lines


def _quality(results: dict[str, Any]) -> list[str]:
    q = results["quality"]
    lines = [
        "",
        f"Recommendation quality: hit rate at {q['k']} on each actor's held-out last interaction",
        f"  {'':12}{'local model':>13}{'popularity':>12}{'held out':>10}",
    ]
    for name in ("traffic", "synthetic"):
        entry = q[name]
        lines.append(f"  {name:12}{entry['model']:>13.3f}{entry['popularity']:>12.3f}{entry['heldOut']:>10}")
    return lines
