#!/usr/bin/env python3
"""Blotter's own rules for its Kubernetes manifests, checked on what an overlay renders.

    rules.py RENDERED.yaml CITIES_DIR              check one rendered overlay
    rules.py --self-test RENDERED.yaml CITIES_DIR  break the render in each way a rule forbids
                                                   and check that the rule notices

Prints one line per problem and exits 1 when there is any."""
import copy
import json
import pathlib
import re
import sys

import yaml

# librdkafka's secrets, which pass through as BLOTTER_KAFKA_* (Blotter's own come from the table)
KAFKA_SECRETS = ("BLOTTER_KAFKA_SASL_PASSWORD", "BLOTTER_KAFKA_SSL_KEY_PASSWORD")
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")
# Variables the manifests themselves expand in args ($(BLOTTER_JOB_CITY) and so on); no program
# reads them.
MANIFEST_VARS = re.compile(r"BLOTTER_JOB_[A-Z0-9_]+")
# Each program's name in the settings table's "programs" column.
PROGRAMS = {"blotter-producer": "producer", "blotter-consumer": "consumer",
            "blotter-dashboard": "dashboard", "blotter-socrata-server": "server"}
README = pathlib.Path(__file__).resolve().parents[2] / "README.md"


def settings_table(readme=README):
    """{environment variable or flag: set of programs} from the README's generated settings table."""
    text = readme.read_text()
    table = text[text.index("<!-- settings:begin"):text.index("<!-- settings:end")]
    out = {}
    row = r"^\| `[a-z0-9_]+` \| (?:`(BLOTTER_[A-Z0-9_]+)`( \(or `_FILE`\))?|—) \| (?:`(--[a-z0-9-]+)`|—) \|[^|]*\| ([a-z, ]+) \|"
    for m in re.finditer(row, table, re.M):
        progs = {p.strip() for p in m.group(4).split(",")}
        if m.group(1):  # its environment variable
            out[m.group(1)] = progs
        if m.group(3):  # its command-line flag
            out[m.group(3)] = progs
        if m.group(2):  # a secret, also read from the file BLOTTER_<NAME>_FILE names
            out[m.group(1) + "_FILE"] = progs
    return out


def secret_settings(table):
    """The secrets: the settings that may be read from a _FILE, and librdkafka's."""
    return {v[:-len("_FILE")] for v in table if v.endswith("_FILE")} | set(KAFKA_SECRETS)


def known_setting(var, program, table):
    """Whether a program ("producer", ..., or None for any) reads the environment variable."""
    def reads(v):
        progs = table.get(v)
        return progs is not None and (program is None or program in progs)
    if reads(var):
        return True
    # librdkafka properties pass through for the programs that talk to Kafka
    return var.startswith("BLOTTER_KAFKA_") and (program is None or program in ("producer", "consumer"))


def pod_spec(doc):
    """The pod spec of a workload, or None."""
    spec = doc.get("spec", {})
    if doc["kind"] == "CronJob":
        return spec["jobTemplate"]["spec"]["template"]["spec"]
    if doc["kind"] in WORKLOADS:
        return spec["template"]["spec"]
    return None


def containers(pod):
    return pod.get("initContainers", []) + pod.get("containers", [])


def blotter(doc):
    return doc["metadata"].get("labels", {}).get("app.kubernetes.io/part-of") == "blotter"


def settings_of(docs):
    maps = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("blotter-settings")]
    if len(maps) != 1:
        return None
    return maps[0]["data"]


def check(docs, cities, table=None):
    table = settings_table() if table is None else table
    secrets = secret_settings(table)
    problems = []
    bad = problems.append
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    name = lambda d: f'{d["kind"]}/{d["metadata"]["name"]}'
    s = settings_of(docs)
    if s is None:
        return ["there must be exactly one blotter-settings ConfigMap"]
    prefix = s.get("BLOTTER_TOPIC_PREFIX", "blotter")
    partitions = int(s.get("BLOTTER_TOPIC_PARTITIONS", "6"))
    replication = int(s.get("BLOTTER_TOPIC_REPLICATION", "1"))
    group = s.get("BLOTTER_GROUP_ID") or f"{prefix}.warehouse"

    # ---- one producer Deployment per city file: replicas 1, Recreate ----
    producers = [d for d in by_kind.get("Deployment", [])
                 if d["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "producer"]
    seen = {}
    for d in producers:
        city = d["metadata"]["labels"].get("blotter.io/city")
        seen.setdefault(city, []).append(d)
        if city not in cities:
            bad(f"{name(d)}: no city file producers/cities/{city}.json (stale generated manifests?)")
        if d["spec"].get("replicas") != 1:
            bad(f"{name(d)}: replicas must be 1 (never two producers of one city)")
        if d["spec"].get("strategy", {}).get("type") != "Recreate":
            bad(f"{name(d)}: strategy must be Recreate (a rolling update runs two producers at once)")
        args = pod_spec(d)["containers"][0].get("args", [])
        if ["--city", city] != args[1:3]:
            bad(f"{name(d)}: args {args} do not follow the city {city}")
    for city in cities:
        if len(seen.get(city, [])) != 1:
            bad(f"city {city}: {len(seen.get(city, []))} producer Deployments, want exactly 1")

    # ---- topics match the settings ----
    topics = {d["spec"].get("topicName", d["metadata"]["name"]): d for d in by_kind.get("KafkaTopic", [])}
    wanted = {f"{prefix}.incidents.{c}": "compact" for c in cities}
    wanted[f"{prefix}.producer-state"] = "compact"
    wanted[f"{prefix}.dlq"] = "delete"
    if by_kind.get("KafkaTopic"):
        for topic, policy in wanted.items():
            d = topics.get(topic)
            if d is None:
                bad(f"no KafkaTopic for {topic}")
                continue
            cfg = d["spec"].get("config", {})
            if cfg.get("cleanup.policy") != policy:
                bad(f"KafkaTopic {topic}: cleanup.policy must be {policy}")
            if policy == "delete" and "retention.ms" not in cfg:
                bad(f"KafkaTopic {topic}: needs a retention.ms")
            want_parts = 1 if topic.endswith(".producer-state") else partitions
            if d["spec"].get("partitions") != want_parts:
                bad(f"KafkaTopic {topic}: partitions {d['spec'].get('partitions')}, settings say {want_parts}")
            if d["spec"].get("replicas") != replication:
                bad(f"KafkaTopic {topic}: replicas {d['spec'].get('replicas')}, settings say {replication}")
            if int(cfg.get("min.insync.replicas", 1)) > max(1, replication - 1):
                bad(f"KafkaTopic {topic}: min.insync.replicas leaves no broker to lose")
            if "strimzi.io/cluster" not in d["metadata"].get("labels", {}):
                bad(f"KafkaTopic {topic}: no strimzi.io/cluster label")
        for topic in topics:
            if topic not in wanted:
                bad(f"KafkaTopic {topic}: not a topic Blotter uses")
    # ---- producers' users write only their own city's topic ----
    users = {d["metadata"]["name"]: d for d in by_kind.get("KafkaUser", [])}
    for city in cities if users else []:
        u = users.get(f"blotter-producer-{city}")
        if u is None:
            bad(f"no KafkaUser blotter-producer-{city}")
            continue
        for acl in u["spec"]["authorization"]["acls"]:
            r = acl["resource"]
            writes = {"Write", "All", "Create"} & set(acl["operations"])
            if r["type"] == "topic" and writes and not (
                    r.get("patternType", "literal") == "literal"
                    and r["name"] in (f"{prefix}.incidents.{city}", f"{prefix}.producer-state", f"{prefix}.dlq")):
                bad(f"KafkaUser blotter-producer-{city}: may write {r['name']} ({r.get('patternType')})")

    # ---- every pod: restricted security context, resources, no secret in the environment ----
    config_maps = {d["metadata"]["name"]: d.get("data", {}) for d in by_kind.get("ConfigMap", [])}
    for d in docs:
        pod = pod_spec(d)
        if pod is None:
            continue
        psc = pod.get("securityContext", {})
        if pod.get("hostNetwork") or pod.get("hostPID") or pod.get("hostIPC"):
            bad(f"{name(d)}: uses the host's namespaces")
        if any("hostPath" in v for v in pod.get("volumes", [])):
            bad(f"{name(d)}: mounts a hostPath")
        if pod.get("automountServiceAccountToken") is not False:
            bad(f"{name(d)}: mounts a service account token it does not need")
        if blotter(d) and pod.get("terminationGracePeriodSeconds", 30) < 30:
            bad(f"{name(d)}: terminationGracePeriodSeconds below 30 s cuts a batch short")
        secret_mounts = {v["name"] for v in pod.get("volumes", []) if "secret" in v}
        for c in containers(pod):
            where = f"{name(d)} container {c['name']}"
            csc = c.get("securityContext", {})
            eff = lambda k: csc.get(k, psc.get(k))
            if eff("runAsNonRoot") is not True:
                bad(f"{where}: runAsNonRoot must be true")
            if eff("runAsUser") == 0:
                bad(f"{where}: runs as root")
            if (eff("seccompProfile") or {}).get("type") != "RuntimeDefault":
                bad(f"{where}: seccompProfile must be RuntimeDefault")
            if csc.get("allowPrivilegeEscalation") is not False:
                bad(f"{where}: allowPrivilegeEscalation must be false")
            if csc.get("privileged"):
                bad(f"{where}: privileged")
            if csc.get("readOnlyRootFilesystem") is not True:
                bad(f"{where}: readOnlyRootFilesystem must be true")
            if "ALL" not in csc.get("capabilities", {}).get("drop", []) or csc.get("capabilities", {}).get("add"):
                bad(f"{where}: must drop ALL capabilities and add none")
            res = c.get("resources", {})
            if not {"cpu", "memory"} <= set(res.get("requests", {})) or "memory" not in res.get("limits", {}):
                bad(f"{where}: needs cpu and memory requests and a memory limit")
            mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
            argv = c.get("args") or c.get("command") or [""]
            prog = PROGRAMS.get(argv[0]) if isinstance(argv[0], str) else None
            for a in argv[1:] if prog else []:
                if isinstance(a, str) and a.startswith("--") and not known_setting(a, prog, table):
                    bad(f"{where}: {a} is not a flag of {argv[0]} (README settings table)")
            for e in c.get("env", []):
                n = e["name"]
                if n in secrets or "secretKeyRef" in e.get("valueFrom", {}):
                    bad(f"{where}: secret {n} in the environment; read it through {n}_FILE")
                if n.endswith("_FILE") and n.startswith("BLOTTER_"):
                    path = e.get("value", "")
                    dirs = [p for p in mounts if path.startswith(p.rstrip("/") + "/")]
                    if not dirs or mounts[max(dirs, key=len)] not in secret_mounts:
                        bad(f"{where}: {n}={path} is not a file of a mounted Secret")
                if (blotter(d) and n.startswith("BLOTTER_") and not MANIFEST_VARS.fullmatch(n)
                        and not known_setting(n, prog, table)):
                    bad(f"{where}: {n} is not a setting of {argv[0]} (README settings table)")
                ref = e.get("valueFrom", {}).get("configMapKeyRef")
                if ref and ref["key"] not in config_maps.get(ref["name"], {}):
                    bad(f"{where}: {n} refers to {ref['name']}/{ref['key']}, which is not rendered")
            for ef in c.get("envFrom", []):
                if "secretRef" in ef:
                    bad(f"{where}: envFrom a Secret puts secrets in the environment")
                ref = ef.get("configMapRef", {}).get("name")
                if ref and ref not in config_maps:
                    bad(f"{where}: envFrom ConfigMap {ref}, which is not rendered")
            # long-running Blotter programs: probes on /healthz and /readyz
            if blotter(d) and d["kind"] in ("Deployment", "StatefulSet"):
                for probe, path in (("startupProbe", "/healthz"), ("livenessProbe", "/healthz"),
                                    ("readinessProbe", "/readyz")):
                    if c.get(probe, {}).get("httpGet", {}).get("path") != path:
                        bad(f"{where}: {probe} must ask {path}")
    for name_, data in config_maps.items():
        for k in data:
            if name_.startswith("blotter-") and k.startswith("BLOTTER_") and not MANIFEST_VARS.fullmatch(k) \
                    and not known_setting(k, None, table):
                bad(f"ConfigMap {name_}: {k} is not a setting of any Blotter program (README settings table)")
            if k in secrets or k.endswith(("PASSWORD", "TOKEN", "_DSN")):
                bad(f"ConfigMap {name_}: holds the secret {k}")

    # ---- the consumers: static membership, autoscaling within the partitions ----
    consumers = [d for d in by_kind.get("StatefulSet", []) if d["metadata"]["name"] == "blotter-consumer"]
    if len(consumers) != 1:
        bad("no StatefulSet blotter-consumer")
    else:
        env = {e["name"]: e for e in pod_spec(consumers[0])["containers"][0].get("env", [])}
        ref = env.get("BLOTTER_GROUP_INSTANCE_ID", {}).get("valueFrom", {}).get("fieldRef", {})
        if ref.get("fieldPath") != "metadata.name":
            bad("StatefulSet/blotter-consumer: BLOTTER_GROUP_INSTANCE_ID must come from the pod name")
    for so in by_kind.get("ScaledObject", []):
        spec = so["spec"]
        target = spec["scaleTargetRef"]
        targets = [d for d in docs if d["kind"] == target.get("kind", "Deployment") and d["metadata"]["name"] == target["name"]]
        if not targets:
            bad(f"{name(so)}: its target {target} is not rendered")
        elif "replicas" in targets[0]["spec"]:
            bad(f"{name(so)}: {target['name']} sets replicas, which every apply would reset")
        if spec.get("maxReplicaCount", 100) > partitions:
            bad(f"{name(so)}: maxReplicaCount {spec.get('maxReplicaCount')} above the {partitions} partitions")
        if spec.get("minReplicaCount", 0) < 1:
            bad(f"{name(so)}: minReplicaCount below 1 stops the live feed")
        for t in spec["triggers"]:
            if t["type"] != "kafka":
                continue
            if t["metadata"].get("consumerGroup") != group:
                bad(f"{name(so)}: consumerGroup {t['metadata'].get('consumerGroup')}, the consumers use {group}")
            if t["metadata"].get("allowIdleConsumers", "false") != "false":
                bad(f"{name(so)}: allowIdleConsumers lets replicas exceed the partitions")
    # ---- operations ----
    pdbs = by_kind.get("PodDisruptionBudget", [])
    for app in ("blotter-consumer", "blotter-dashboard", "blotter-producer"):
        if not any(p["spec"]["selector"].get("matchLabels", {}).get("app.kubernetes.io/name") == app for p in pdbs):
            bad(f"no PodDisruptionBudget for {app}")
    if not any(n["spec"].get("podSelector") == {} and set(n["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
               for n in by_kind.get("NetworkPolicy", [])):
        bad("no default-deny NetworkPolicy (podSelector {}, Ingress and Egress)")
    for cj in by_kind.get("CronJob", []):
        if cj["spec"].get("suspend") is not True:
            bad(f"{name(cj)}: a job template must stay suspended")
        args = pod_spec(cj)["containers"][0].get("args", [])
        if args[:1] == ["blotter-consumer"] and "--until-idle" not in args:
            bad(f"{name(cj)}: a consumer run must end with --until-idle")
    return problems


def self_test(docs, cities):
    """Each mutation must make check() report something."""
    def producer(ds):
        return next(d for d in ds if d["kind"] == "Deployment" and d["metadata"]["name"].startswith("blotter-producer-"))
    def consumer(ds):
        return next(d for d in ds if d["kind"] == "StatefulSet")
    def first_container(d):
        return pod_spec(d)["containers"][0]
    mutations = {
        "rolling producer": lambda ds: producer(ds)["spec"].__setitem__("strategy", {"type": "RollingUpdate"}),
        "two producers": lambda ds: producer(ds)["spec"].__setitem__("replicas", 2),
        "missing city": lambda ds: ds.remove(producer(ds)),
        "extra city": lambda ds: None,  # a city file without resources: see below
        "root container": lambda ds: first_container(consumer(ds))["securityContext"].__setitem__("runAsNonRoot", False),
        "no security context": lambda ds: first_container(producer(ds)).pop("securityContext"),
        "writable root": lambda ds: first_container(producer(ds))["securityContext"].pop("readOnlyRootFilesystem"),
        "no memory limit": lambda ds: first_container(consumer(ds))["resources"].pop("limits"),
        "secret in env": lambda ds: first_container(consumer(ds))["env"].append({"name": "BLOTTER_PG_DSN", "value": "postgresql://x"}),
        "secretKeyRef": lambda ds: first_container(consumer(ds))["env"].append(
            {"name": "X", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}),
        "_FILE outside a secret": lambda ds: first_container(consumer(ds))["env"].append(
            {"name": "BLOTTER_REDIS_URL_FILE", "value": "/tmp/redis-url"}),
        "too many replicas": lambda ds: [d for d in ds if d["kind"] == "ScaledObject"][0]["spec"].__setitem__("maxReplicaCount", 99),
        "wrong group": lambda ds: [d for d in ds if d["kind"] == "ScaledObject"][0]["spec"]["triggers"][0]["metadata"].__setitem__("consumerGroup", "other"),
        "instance id": lambda ds: first_container(consumer(ds)).__setitem__("env", [
            e if e["name"] != "BLOTTER_GROUP_INSTANCE_ID" else {"name": e["name"], "value": "x"}
            for e in first_container(consumer(ds))["env"]]),
        "topic partitions": lambda ds: [d for d in ds if d["kind"] == "KafkaTopic"][0]["spec"].__setitem__("partitions", 3),
        "no probe": lambda ds: first_container(producer(ds)).pop("readinessProbe"),
        "unknown setting": lambda ds: first_container(producer(ds))["env"].append(
            {"name": "BLOTTER_POLL_INTERVAL", "value": "30"}),
        "another program's setting": lambda ds: first_container(consumer(ds))["env"].append(
            {"name": "BLOTTER_POLL_INTERVAL_S", "value": "30"}),
        "unknown flag": lambda ds: first_container(producer(ds))["args"].append("--poll-interval"),
        "unknown key in the settings": lambda ds: settings_of(ds).__setitem__("BLOTTER_TOPIC_PARTITION", "6"),
        "no default deny": lambda ds: ds.remove(next(d for d in ds if d["kind"] == "NetworkPolicy" and d["spec"]["podSelector"] == {})),
    }
    failures = []
    for label, mutate in mutations.items():
        if label in ("too many replicas", "wrong group") and not any(d["kind"] == "ScaledObject" for d in docs):
            continue
        if label == "topic partitions" and not any(d["kind"] == "KafkaTopic" for d in docs):
            continue
        ds, cs = copy.deepcopy(docs), list(cities)
        if label == "extra city":
            cs.append("atlantis")
        else:
            mutate(ds)
        found = check(ds, cs)
        print(f"  {'caught' if found else 'MISSED'}: {label}" + (f" ({found[0]})" if found else ""))
        if not found:
            failures.append(label)
    return failures


def main(argv):
    self = argv[:1] == ["--self-test"]
    argv = argv[1:] if self else argv
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    docs = [d for d in yaml.safe_load_all(open(argv[0])) if d]
    cities = sorted(json.loads(p.read_text())["name"] for p in pathlib.Path(argv[1]).glob("*.json"))
    if self:
        if check(docs, cities):
            print("the render itself breaks the rules; fix that first", file=sys.stderr)
            return 1
        missed = self_test(docs, cities)
        return 1 if missed else 0
    problems = check(docs, cities)
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
