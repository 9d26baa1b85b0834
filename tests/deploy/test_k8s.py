"""deploy/k8s: every manifest parses, Secrets are referenced not inlined, KEDA scales the workers' queue."""

import re

import pytest
import yaml

from farm_core.settings import FarmSettings
from tests.deploy.files import DEPLOY, PLACEHOLDER, SECRET_NAME

K8S = DEPLOY / "k8s"
NAMESPACE = "codex-farm"
API_VERSIONS = {
    "Namespace": "v1",
    "Secret": "v1",
    "ConfigMap": "v1",
    "Service": "v1",
    "PersistentVolumeClaim": "v1",
    "Deployment": "apps/v1",
    "StatefulSet": "apps/v1",
    "NetworkPolicy": "networking.k8s.io/v1",
    "ScaledObject": "keda.sh/v1alpha1",
    "TriggerAuthentication": "keda.sh/v1alpha1",
}
OUR_IMAGE = re.compile(r"(^|/)codex-farm:")


def load_all() -> list[dict]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None:
                docs.append({**doc, "_file": path.name})
    return docs


DOCS = load_all()


def of_kind(kind: str) -> list[dict]:
    return [doc for doc in DOCS if doc["kind"] == kind]


def named(kind: str, name: str) -> dict:
    matches = [doc for doc in of_kind(kind) if doc["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}"
    return matches[0]


def workloads() -> list[dict]:
    return of_kind("Deployment") + of_kind("StatefulSet")


def containers(workload: dict) -> list[dict]:
    spec = workload["spec"]["template"]["spec"]
    return spec.get("initContainers", []) + spec["containers"]


def command_line(container: dict) -> list[str]:
    return [str(part) for part in container.get("command", []) + container.get("args", [])]


def env_of(container: dict) -> dict[str, dict]:
    return {entry["name"]: entry for entry in container.get("env", [])}


def config_map_data() -> dict[str, str]:
    return {key: str(value) for doc in of_kind("ConfigMap") for key, value in doc.get("data", {}).items()}


def secret_keys() -> dict[str, set[str]]:
    return {
        doc["metadata"]["name"]: set(doc.get("stringData", {})) | set(doc.get("data", {}))
        for doc in of_kind("Secret")
    }


def role(name: str) -> dict:
    """The workload whose container runs `codex-farm <name>`."""
    matches = [w for w in workloads() if any(name in command_line(c)[:4] for c in containers(w))]
    assert len(matches) == 1, name
    return matches[0]


def worker_queues() -> set[str]:
    container = containers(role("worker"))[0]
    line = command_line(container)
    if "--queues" in line:
        return set(line[line.index("--queues") + 1].split(","))
    env = env_of(container)
    if "FARM_QUEUE" in env:
        return set(env["FARM_QUEUE"]["value"].split(","))
    if (
        any("configMapRef" in source for source in container.get("envFrom", []))
        and "FARM_QUEUE" in config_map_data()
    ):
        return set(config_map_data()["FARM_QUEUE"].split(","))
    return {"default"}


def test_every_manifest_has_a_known_kind_and_api_version_in_the_namespace():
    assert DOCS
    for doc in DOCS:
        assert doc["kind"] in API_VERSIONS, doc["_file"]
        assert doc["apiVersion"] == API_VERSIONS[doc["kind"]], (doc["_file"], doc["kind"])
        assert doc["metadata"]["name"]
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == NAMESPACE, (doc["_file"], doc["metadata"]["name"])
    kinds = {doc["kind"] for doc in DOCS}
    assert {
        "Namespace",
        "Secret",
        "ConfigMap",
        "Service",
        "Deployment",
        "StatefulSet",
        "ScaledObject",
        "TriggerAuthentication",
    } <= kinds


@pytest.mark.parametrize("name", ["worker", "adapter", "flower"])
def test_each_role_is_a_deployment(name):
    assert role(name)["kind"] == "Deployment"


def test_adapter_and_flower_have_cluster_ip_services_that_select_them():
    for name, port in (("adapter", 8788), ("flower", 5555)):
        workload = role(name)
        labels = workload["spec"]["template"]["metadata"]["labels"]
        services = [s for s in of_kind("Service") if s["spec"]["selector"].items() <= labels.items()]
        assert len(services) == 1, name
        assert services[0]["spec"].get("type", "ClusterIP") == "ClusterIP", name
        assert services[0]["spec"]["ports"][0]["port"] == port


def test_selectors_match_their_pod_templates():
    for workload in workloads():
        selector = workload["spec"]["selector"]["matchLabels"]
        assert selector.items() <= workload["spec"]["template"]["metadata"]["labels"].items(), workload[
            "metadata"
        ]["name"]


def test_redis_has_a_password_from_the_secret_appendonly_noeviction_and_a_volume_claim():
    redis = next(w for w in workloads() if any(c["image"].startswith("redis:") for c in containers(w)))
    container = containers(redis)[0]
    line = command_line(container)
    password = line[line.index("--requirepass") + 1]
    variable = re.fullmatch(r"\$\((\w+)\)", password)
    assert variable, "the password comes from the environment, not the manifest"
    assert "secretKeyRef" in env_of(container)[variable.group(1)]["valueFrom"]
    assert line[line.index("--appendonly") + 1] == "yes"
    assert line[line.index("--maxmemory-policy") + 1] == "noeviction"
    claims = redis["spec"].get("volumeClaimTemplates", []) + of_kind("PersistentVolumeClaim")
    assert claims
    mounted = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounted[claims[0]["metadata"]["name"]] == "/data"
    service = next(
        s
        for s in of_kind("Service")
        if s["spec"]["selector"].items() <= redis["spec"]["template"]["metadata"]["labels"].items()
    )
    assert service["spec"].get("type", "ClusterIP") == "ClusterIP"


def test_secrets_are_referenced_never_inlined():
    keys = secret_keys()
    for workload in workloads():
        for container in containers(workload):
            where = f"{workload['metadata']['name']}/{container['name']}"
            assert not any("secretRef" in source for source in container.get("envFrom", [])), (
                f"{where}: pick keys, not the whole Secret"
            )
            for name, entry in env_of(container).items():
                if SECRET_NAME.search(name):
                    ref = entry.get("valueFrom", {}).get("secretKeyRef")
                    assert ref, f"{where}: {name} must come from a Secret"
                if "valueFrom" in entry and "secretKeyRef" in entry["valueFrom"]:
                    ref = entry["valueFrom"]["secretKeyRef"]
                    assert ref["key"] in keys.get(ref["name"], set()), (
                        f"{where}: {ref} not in the example Secret"
                    )
                value = str(entry.get("value", ""))
                if "://" in value and "@" in value:
                    assert re.search(r"://[^/@]*:\$\(\w+\)@", value), f"{where}: {name} inlines a credential"
                    referenced = re.search(r"\$\((\w+)\)@", value).group(1)
                    names = list(env_of(container))
                    assert names.index(referenced) < names.index(name), (
                        f"{where}: {referenced} must come before {name}"
                    )


def test_the_example_secret_holds_placeholders_only():
    for secret in of_kind("Secret"):
        for key, value in secret.get("stringData", {}).items():
            assert PLACEHOLDER in str(value), key
        assert not secret.get("data"), "base64 data would hide real values"


def test_only_the_adapter_gets_the_gateway_key():
    for workload in workloads():
        for container in containers(workload):
            refs = {
                e["valueFrom"]["secretKeyRef"]["key"]
                for e in container.get("env", [])
                if "secretKeyRef" in e.get("valueFrom", {})
            }
            if workload is not role("adapter"):
                assert "oneapi-api-key" not in refs, workload["metadata"]["name"]


def test_every_redis_url_has_a_password():
    urls = [
        (w["metadata"]["name"], entry["value"])
        for w in workloads()
        for c in containers(w)
        for entry in c.get("env", [])
        if entry["name"] == "REDIS_URL"
    ]
    assert {name for name, _ in urls} == {
        role("worker")["metadata"]["name"],
        role("flower")["metadata"]["name"],
    }
    for name, url in urls:
        assert re.fullmatch(r"rediss?://:\$\(REDIS_PASSWORD\)@redis(\.[\w.-]+)?:6379/\d+", url), name


def test_worker_drains_on_termination_and_has_resources_and_a_cache_volume():
    worker = role("worker")
    spec = worker["spec"]["template"]["spec"]
    longest_job_s = FarmSettings.model_fields["max_timeout_ms"].default / 1000
    assert spec["terminationGracePeriodSeconds"] >= longest_job_s
    container = containers(worker)[0]
    assert {"requests", "limits"} <= set(container["resources"])
    cache_dir = env_of(container)["WORKER_CACHE_DIR"]["value"]
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == cache_dir)
    volume = next(v for v in spec["volumes"] if v["name"] == mount["name"])
    assert "emptyDir" in volume or "persistentVolumeClaim" in volume
    assert env_of(container)["ADAPTER_URL"]["value"].startswith("http://codex-farm-adapter:")


def test_flower_basic_auth_comes_from_the_secret():
    container = containers(role("flower"))[0]
    line = command_line(container)
    assert line[:2] == ["codex-farm", "flower"] and "--allow-control" not in line
    assert "secretKeyRef" in env_of(container)["FLOWER_BASIC_AUTH"]["valueFrom"]
    assert not any(part.startswith("--basic-auth") for part in line)
    for workload in workloads():
        for each in containers(workload):
            assert "FLOWER_UNAUTHENTICATED_API" not in env_of(each), workload["metadata"]["name"]
    assert "FLOWER_UNAUTHENTICATED_API" not in config_map_data()


def test_our_containers_run_unprivileged_and_keep_the_images_entrypoint():
    for workload in workloads():
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, workload["metadata"]["name"]
        for container in containers(workload):
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            if OUR_IMAGE.search(container["image"]):
                assert "command" not in container, "args only: tini stays PID 1"


def test_scaled_object_scales_the_worker_deployment_on_its_celery_queue():
    (scaled,) = of_kind("ScaledObject")
    target = scaled["spec"]["scaleTargetRef"]
    worker = role("worker")
    assert target["name"] == worker["metadata"]["name"]
    assert target.get("kind", "Deployment") == "Deployment"
    assert target.get("apiVersion", "apps/v1") == "apps/v1"
    assert 1 <= scaled["spec"]["minReplicaCount"] < scaled["spec"]["maxReplicaCount"]

    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "redis"
    metadata = trigger["metadata"]
    assert metadata["listName"] in worker_queues()
    assert int(metadata["listLength"]) >= 1
    redis_service = named("Service", "redis")
    host, _, port = metadata["address"].partition(":")
    # KEDA's operator runs in its own namespace: the address must name ours.
    assert host in (f"redis.{NAMESPACE}", f"redis.{NAMESPACE}.svc", f"redis.{NAMESPACE}.svc.cluster.local")
    assert int(port) == redis_service["spec"]["ports"][0]["port"]
    assert "password" not in metadata, "the password comes through the TriggerAuthentication"

    auth = named("TriggerAuthentication", trigger["authenticationRef"]["name"])
    (ref,) = [r for r in auth["spec"]["secretTargetRef"] if r["parameter"] == "password"]
    assert ref["key"] in secret_keys()[ref["name"]]
    redis_password = next(
        e["valueFrom"]["secretKeyRef"]
        for w in workloads()
        for c in containers(w)
        for e in c.get("env", [])
        if e["name"] == "REDIS_PASSWORD" and c["image"].startswith("redis:")
    )
    assert (ref["name"], ref["key"]) == (redis_password["name"], redis_password["key"])


def test_redis_admits_only_the_farm_and_keda():
    (policy,) = of_kind("NetworkPolicy")
    redis = named("StatefulSet", "redis")
    assert (
        policy["spec"]["podSelector"]["matchLabels"].items()
        <= redis["spec"]["template"]["metadata"]["labels"].items()
    )
    sources = policy["spec"]["ingress"][0]["from"]
    assert any(
        s.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name") == "keda"
        for s in sources
    )
