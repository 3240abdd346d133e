#!/usr/bin/env python3
"""Offline validation of deploy/ (run through scripts/validate_deploy.sh, which sets up a venv).

1. Renders every kustomization under deploy/k8s with a small renderer that supports exactly
   the kustomize features deploy/k8s uses -- `resources` (files and folders), `components`,
   `namespace`, `images` and JSON6902 `patches` (with `target`) -- and fails on anything else.
2. Validates every rendered object with kubernetes-validate against the bundled OpenAPI
   schemas of fixed Kubernetes versions, strictly (an unknown field is an error).
3. Checks what schemas cannot: every manifest is referenced, pods are non-root and locked
   down, the model is mounted read-only at /models, the Deployment's gRPC probes use the port
   its headless Service publishes, the Indexed Job's `--shard $(JOB_COMPLETION_INDEX)/N` has
   N = completions, requests follow the model file's size, the ConfigMap agrees with the env.
4. Lints deploy/Dockerfile and .dockerignore (hadolint is not available offline).

Prints one line per object validated; exits 1 on any failure.

    validate_deploy.py [--deploy DIR] [--dockerignore FILE] [--self-test]
    validate_deploy.py --size FILE_OR_BYTES     # requests for a model file (deploy/README.md)
"""

from __future__ import annotations

import argparse
import copy
import functools
import json
import math
import re
import sys
from pathlib import Path

import yaml

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib  # type: ignore[no-redef]

# The oldest Kubernetes the manifests support (gRPC probes: 1.27; Indexed Jobs with
# backoffLimitPerIndex and podFailurePolicy FailIndex: on by default from 1.30) and the newest
# whose schemas the pinned kubernetes-validate bundles.
KUBE_VERSIONS = ("1.30", "1.37")

NAME_LABEL = "app.kubernetes.io/name"
APP = "sofer"
MODEL_BYTES_ANNOTATION = "sofer/model-file-bytes"
MODEL_MOUNT = "/models"
INDEX_CLAIM = "sofer-index"
COMPLETION_INDEX_FIELDS = {
    "metadata.annotations['batch.kubernetes.io/job-completion-index']",
    "metadata.labels['batch.kubernetes.io/job-completion-index']",
}
GIB = 1 << 30
# Sizing (deploy/README.md): memory request >= 1.2 x file + 1 GiB (rounded up by at most
# 1 GiB), limit >= 1.25 x request, startup budget >= file / 50 MB/s + 60 s.
MEM_FACTOR, MEM_OVERHEAD, MEM_SLACK, LIMIT_FACTOR = 1.2, GIB, GIB, 1.25
LOAD_BYTES_PER_S, LOAD_FIXED_S = 50e6, 60

# Kinds the renderer knows, and whether they are namespaced. Kinds whose namespace kustomize
# also rewrites inside the object (RoleBinding subjects, webhooks, ...) are left out on purpose.
KINDS = {
    "Namespace": False,
    "ConfigMap": True,
    "Secret": True,
    "Service": True,
    "ServiceAccount": True,
    "PersistentVolumeClaim": True,
    "Deployment": True,
    "StatefulSet": True,
    "Job": True,
    "CronJob": True,
    "HorizontalPodAutoscaler": True,
    "PodDisruptionBudget": True,
    "NetworkPolicy": True,
}
KUSTOMIZATION_KEYS = {"apiVersion", "kind", "resources", "components", "namespace", "images", "patches"}
PATCH_KEYS = {"path", "patch", "target"}
TARGET_KEYS = {"group", "version", "kind", "name", "namespace"}
IMAGE_KEYS = {"name", "newName", "newTag", "digest"}
RESTRICTED_VOLUME_TYPES = {
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
    "projected", "secret",
}
# The keys `sofer serve` accepts (src/service/config.rs; it refuses unknown ones).
TOML_KEYS = {"listen", "metrics_listen", "http_listen", "model", "tokenizer", "index", "index_read_only",
             "prompts", "limits", "auth", "tls"}
TOML_LIMITS_KEYS = {"queue_capacity", "workers", "max_sequences", "kv_cache_mib", "prefix_cache_mib", "max_message_bytes",
                    "grace_period_seconds", "stall_timeout_seconds"}


class Invalid(Exception):
    """A problem in deploy/: reported, then the run fails."""


# ---- YAML -----------------------------------------------------------------------------------


class StrictLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """SafeLoader (libyaml's when there) that rejects duplicate keys, as kustomize does."""


def _construct_mapping(loader, node, deep=False):
    loader.flatten_mapping(node)
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return yaml.constructor.SafeConstructor.construct_mapping(loader, node, deep)


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml_docs(text: str, where: str) -> list:
    try:
        return [d for d in yaml.load_all(text, Loader=StrictLoader) if d is not None]
    except yaml.YAMLError as e:
        raise Invalid(f"{where}: not valid YAML: {e}") from None


# ---- kustomize subset -----------------------------------------------------------------------


def split_api_version(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


def obj_id(obj: dict) -> str:
    md = obj.get("metadata") or {}
    ns = md.get("namespace")
    return f"{obj.get('kind')}/{md.get('name')}" + (f" (namespace {ns})" if ns else "")


def resolve_in(base: Path, rel: str, root: Path, what: str) -> Path:
    if "://" in rel or rel.startswith(("github.com", "git@")):
        raise Invalid(f"{what}: remote reference {rel!r} is not supported (offline)")
    return (base / rel).resolve()


class Renderer:
    def __init__(self, root: Path):
        self.root = root.resolve()
        self.used_files: set[Path] = set()
        self.used_components: set[Path] = set()

    def kustomization(self, kdir: Path, expect: str) -> dict:
        for other in ("kustomization.yml", "Kustomization"):
            if (kdir / other).exists():
                raise Invalid(f"{kdir}/{other}: name it kustomization.yaml")
        path = kdir / "kustomization.yaml"
        if not path.is_file():
            raise Invalid(f"{kdir}: no kustomization.yaml")
        self.used_files.add(path)
        docs = load_yaml_docs(path.read_text(), str(path))
        if len(docs) != 1 or not isinstance(docs[0], dict):
            raise Invalid(f"{path}: expected one mapping")
        k = docs[0]
        unknown = set(k) - KUSTOMIZATION_KEYS
        if unknown:
            raise Invalid(f"{path}: keys {sorted(unknown)} are not supported by "
                          f"scripts/validate_deploy.py (supported: {sorted(KUSTOMIZATION_KEYS)})")
        want_api = {"Kustomization": "kustomize.config.k8s.io/v1beta1",
                    "Component": "kustomize.config.k8s.io/v1alpha1"}[expect]
        if k.get("kind", "Kustomization") != expect or k.get("apiVersion", want_api) != want_api:
            raise Invalid(f"{path}: expected kind {expect} ({want_api}), "
                          f"got {k.get('kind')} ({k.get('apiVersion')})")
        for key in ("resources", "components", "patches", "images"):
            if key in k and not isinstance(k[key], list):
                raise Invalid(f"{path}: `{key}` must be a list")
        return k

    def build(self, kdir: Path) -> list[dict]:
        kdir = kdir.resolve()
        k = self.kustomization(kdir, "Kustomization")
        objs = self.resources(k, kdir, [])
        for comp in k.get("components", []):
            cdir = resolve_in(kdir, comp, self.root, f"{kdir}/kustomization.yaml")
            if not cdir.is_dir():
                raise Invalid(f"{kdir}/kustomization.yaml: component {comp!r} is not a folder")
            self.used_components.add(cdir)
            ck = self.kustomization(cdir, "Component")
            objs = self.resources(ck, cdir, objs)
            objs = self.transform(ck, cdir, objs)
        return self.transform(k, kdir, objs)

    def resources(self, k: dict, kdir: Path, objs: list[dict]) -> list[dict]:
        objs = list(objs)
        seen = {obj_id(o) for o in objs}
        for res in k.get("resources", []):
            p = resolve_in(kdir, res, self.root, f"{kdir}/kustomization.yaml")
            if p.is_dir():
                new = self.build(p)
            elif p.is_file():
                if kdir not in p.parents:
                    raise Invalid(f"{kdir}/kustomization.yaml: resource file {res!r} is outside the "
                                  "kustomization's folder (kustomize refuses that by default)")
                self.used_files.add(p)
                new = load_yaml_docs(p.read_text(), str(p))
                for o in new:
                    if not isinstance(o, dict) or "kind" not in o or "apiVersion" not in o:
                        raise Invalid(f"{p}: every document must be an object with apiVersion and kind")
                    if o["kind"] == "List":
                        raise Invalid(f"{p}: kind List is not supported; list the objects as documents")
            else:
                raise Invalid(f"{kdir}/kustomization.yaml: resource {res!r} does not exist")
            for o in new:
                if o["kind"] not in KINDS:
                    raise Invalid(f"{p}: kind {o['kind']} is not known to scripts/validate_deploy.py")
                oid = obj_id(o)
                if oid in seen:
                    raise Invalid(f"{kdir}: {oid} is defined twice")
                seen.add(oid)
                objs.append(copy.deepcopy(o))
        return objs

    def transform(self, k: dict, kdir: Path, objs: list[dict]) -> list[dict]:
        # kustomize's order for these: patches, namespace, images.
        where = f"{kdir}/kustomization.yaml"
        for i, entry in enumerate(k.get("patches", [])):
            objs = self.patch(entry, kdir, objs, f"{where}: patches[{i}]")
        if "namespace" in k:
            ns = k["namespace"]
            if not isinstance(ns, str) or not ns:
                raise Invalid(f"{where}: namespace must be a non-empty string")
            for o in objs:
                if o["kind"] == "Namespace":
                    o["metadata"]["name"] = ns  # what kustomize does
                elif KINDS[o["kind"]]:
                    o.setdefault("metadata", {})["namespace"] = ns
        for i, img in enumerate(k.get("images", [])):
            if not isinstance(img, dict) or "name" not in img or set(img) - IMAGE_KEYS:
                raise Invalid(f"{where}: images[{i}] must have `name` and only {sorted(IMAGE_KEYS)}")
            for o in objs:
                set_image(o, img)
        return objs

    def patch(self, entry: dict, kdir: Path, objs: list[dict], where: str) -> list[dict]:
        if not isinstance(entry, dict) or set(entry) - PATCH_KEYS:
            raise Invalid(f"{where}: only {sorted(PATCH_KEYS)} are supported")
        if ("path" in entry) == ("patch" in entry):
            raise Invalid(f"{where}: give exactly one of `path` and `patch`")
        if "path" in entry:
            p = resolve_in(kdir, entry["path"], self.root, where)
            if kdir not in p.parents:
                raise Invalid(f"{where}: {entry['path']} is outside the kustomization's folder "
                              "(kustomize refuses that by default)")
            if not p.is_file():
                raise Invalid(f"{where}: {entry['path']} does not exist")
            self.used_files.add(p)
            docs = load_yaml_docs(p.read_text(), str(p))
        else:
            docs = load_yaml_docs(entry["patch"], where)
        if len(docs) != 1 or not isinstance(docs[0], list):
            raise Invalid(f"{where}: only JSON6902 patches (a list of operations) are supported; "
                          "strategic-merge patches are not")
        ops = docs[0]
        target = entry.get("target")
        if not isinstance(target, dict) or not target or set(target) - TARGET_KEYS:
            raise Invalid(f"{where}: a JSON6902 patch needs a `target` with only {sorted(TARGET_KEYS)}")
        out = []
        for o in objs:
            if selected(o, target):
                try:
                    o = json6902(o, ops)
                except Invalid as e:
                    raise Invalid(f"{where} on {obj_id(o)}: {e}") from None
            out.append(o)
        return out  # a target that matches nothing is fine, as in kustomize


def selected(obj: dict, target: dict) -> bool:
    group, version = split_api_version(obj["apiVersion"])
    md = obj.get("metadata") or {}
    have = {"group": group, "version": version, "kind": obj["kind"],
            "name": md.get("name", ""), "namespace": md.get("namespace", "")}
    for key, pattern in target.items():
        if pattern and not re.fullmatch(str(pattern), str(have[key])):
            return False
    return True


def set_image(node, img: dict) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("containers", "initContainers") and isinstance(value, list):
                for c in value:
                    if isinstance(c, dict) and isinstance(c.get("image"), str):
                        c["image"] = retag(c["image"], img)
            else:
                set_image(value, img)
    elif isinstance(node, list):
        for item in node:
            set_image(item, img)


def retag(image: str, img: dict) -> str:
    name, at, digest = image.partition("@")
    tag = ""
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1:]
    if name != img["name"]:
        return image
    new = img.get("newName", name)
    if img.get("digest"):
        return f"{new}@{img['digest']}"
    if img.get("newTag"):
        return f"{new}:{img['newTag']}"
    return new + (f":{tag}" if tag else "") + (f"@{digest}" if at else "")


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise Invalid(f"bad JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc, parts: list[str], path: str):
    node = doc
    for part in parts[:-1]:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise Invalid(f"path {path} does not exist")
    return node


def json6902(obj: dict, ops: list) -> dict:
    doc = copy.deepcopy(obj)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise Invalid(f"bad operation {op!r}")
        kind, path = op["op"], op["path"]
        if kind not in ("add", "remove", "replace", "test"):
            raise Invalid(f"operation {kind!r} is not supported (add, remove, replace, test)")
        if kind != "remove" and "value" not in op:
            raise Invalid(f"{kind} {path}: no value")
        parts = _pointer(path)
        if not parts:
            raise Invalid("operations on the whole document are not supported")
        parent, last = _parent(doc, parts, path), parts[-1]
        value = copy.deepcopy(op.get("value"))
        if isinstance(parent, dict):
            exists = last in parent
            if kind == "add":
                parent[last] = value
            elif not exists:
                raise Invalid(f"{kind} {path}: no such member")
            elif kind == "replace":
                parent[last] = value
            elif kind == "remove":
                del parent[last]
            elif parent[last] != value:
                raise Invalid(f"test {path}: {parent[last]!r} != {value!r}")
        elif isinstance(parent, list):
            if kind == "add" and last == "-":
                parent.append(value)
                continue
            if not last.isdigit():
                raise Invalid(f"{kind} {path}: bad array index")
            i = int(last)
            if kind == "add":
                if i > len(parent):
                    raise Invalid(f"add {path}: index out of range")
                parent.insert(i, value)
            elif i >= len(parent):
                raise Invalid(f"{kind} {path}: index out of range")
            elif kind == "replace":
                parent[i] = value
            elif kind == "remove":
                del parent[i]
            elif parent[i] != value:
                raise Invalid(f"test {path}: {parent[i]!r} != {value!r}")
        else:
            raise Invalid(f"{kind} {path}: parent is not an object or array")
    return doc


# ---- schemas --------------------------------------------------------------------------------


def schema_check(obj: dict) -> list[str]:
    import kubernetes_validate
    from kubernetes_validate import utils
    from kubernetes_validate.utils import SchemaNotFoundError, ValidationError

    # The schema files are large and the same for every object of a kind: read each once.
    if hasattr(utils, "schema_contents") and not hasattr(utils.schema_contents, "cache_info"):
        utils.schema_contents = functools.lru_cache(maxsize=None)(utils.schema_contents)

    errors = []
    for version in KUBE_VERSIONS:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except ValidationError as e:
            where = ".".join(str(p) for p in e.path) or "(top)"
            errors.append(f"Kubernetes {version} schema: {where}: {e.message}")
        except SchemaNotFoundError as e:
            errors.append(f"Kubernetes {version}: {e.message}")
    return errors


# ---- quantities and helpers -----------------------------------------------------------------

_SUFFIX = {"": 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
           "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40, "Pi": 1 << 50, "Ei": 1 << 60}


def quantity(q) -> float:
    m = re.fullmatch(r"([0-9.]+(?:[eE][-+]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?", str(q))
    if not m:
        raise Invalid(f"bad quantity {q!r}")
    return float(m.group(1)) * _SUFFIX[m.group(2) or ""]


def labels(obj: dict) -> dict:
    return (obj.get("metadata") or {}).get("labels") or {}


def pod_template(obj: dict) -> dict | None:
    spec = obj.get("spec") or {}
    if obj["kind"] == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    return spec.get("template") if obj["kind"] in ("Deployment", "StatefulSet", "Job", "CronJob") else None


def env_map(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container.get("env") or []}


_VAR = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def var_refs(text: str) -> list[str]:
    return [m.group(1) for m in _VAR.finditer(text) if m.group(1)]


def expand(text: str, env: dict[str, dict]) -> str:
    """Kubernetes' $(VAR) expansion with the literal env values; others stay as they are."""
    def sub(m):
        if m.group(0) == "$$":
            return "$"
        e = env.get(m.group(1))
        if e is not None and "value" in e:
            return expand(str(e["value"]), env)
        return m.group(0)
    return _VAR.sub(sub, text)


def flag(args: list[str], name: str) -> str | None:
    for i, a in enumerate(args):
        if a == name and i + 1 < len(args):
            return args[i + 1]
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
    return None


def mount_for(path: str, container: dict) -> dict | None:
    best = None
    for m in container.get("volumeMounts") or []:
        mp = m["mountPath"].rstrip("/") or "/"
        if path == mp or path.startswith(mp + "/"):
            if best is None or len(mp) > len(best["mountPath"]):
                best = m
    return best


def port_of(listen: str) -> int:
    host, _, port = listen.rpartition(":")
    if not port.isdigit():
        raise Invalid(f"{listen!r} is not HOST:PORT")
    return int(port)


# ---- invariants -----------------------------------------------------------------------------


class Checker:
    def __init__(self, image_uid: int | None, image_ports: set[int]):
        self.image_uid = image_uid
        self.image_ports = image_ports
        self.claims: dict[str, dict] = {}  # every PVC rendered anywhere
        self.claim_users: list[tuple[str, str, str]] = []  # (render, workload, claim)
        self.index_paths: dict[str, list[str]] = {"server": [], "writer": []}
        self.config_refs: list[tuple[str, str, dict]] = []  # (ConfigMap, key, env) per render
        self.shared_claims: list[tuple[str, str]] = []  # (claim, flag) of batch input/output

    def render(self, name: str, objs: list[dict]) -> list[str]:
        """Checks one rendered kustomization; cross-render checks wait for finish()."""
        errs: list[str] = []
        self.config_refs = []
        for o in objs:
            if labels(o).get(NAME_LABEL) != APP:
                errs.append(f"{obj_id(o)}: label {NAME_LABEL}: {APP} is missing")
            if KINDS[o["kind"]] and not o["metadata"].get("namespace"):
                errs.append(f"{obj_id(o)}: no namespace (set `namespace:` in the kustomization)")
            if o["kind"] == "PersistentVolumeClaim":
                self.claims[o["metadata"]["name"]] = o
        for o in objs:
            tmpl = pod_template(o)
            if tmpl is not None:
                errs += [f"{obj_id(o)}: {e}" for e in self.pod(name, o, tmpl, objs)]
            check = getattr(self, "check_" + o["kind"], None)
            if check:
                errs += [f"{obj_id(o)}: {e}" for e in check(o, objs)]
        return errs

    # -- pods
    def pod(self, render: str, owner: dict, tmpl: dict, objs: list[dict]) -> list[str]:
        errs = []
        spec = tmpl.get("spec") or {}
        psc = spec.get("securityContext") or {}
        if psc.get("runAsNonRoot") is not True:
            errs.append("pod securityContext.runAsNonRoot must be true")
        uid = psc.get("runAsUser")
        if not isinstance(uid, int) or uid == 0:
            errs.append("pod securityContext.runAsUser must be a non-zero uid")
        elif self.image_uid is not None and uid != self.image_uid:
            errs.append(f"pod runAsUser {uid} is not the image's USER {self.image_uid}")
        if spec.get("automountServiceAccountToken") is not False:
            errs.append("automountServiceAccountToken must be false (Sofer never calls the API)")
        if not labels(tmpl).get(NAME_LABEL) == APP:
            errs.append(f"pod template label {NAME_LABEL}: {APP} is missing")
        volumes = {v["name"]: v for v in spec.get("volumes") or []}
        for v in volumes.values():
            kinds = set(v) - {"name"}
            if not kinds <= RESTRICTED_VOLUME_TYPES:
                errs.append(f"volume {v['name']}: {sorted(kinds)} is not allowed by the restricted policy")
            pvc = v.get("persistentVolumeClaim")
            if pvc:
                self.claim_users.append((render, obj_id(owner), pvc["claimName"]))
        mounted = set()
        containers = (spec.get("containers") or []) + (spec.get("initContainers") or [])
        for c in containers:
            cname = f"container {c.get('name')}"
            sc = c.get("securityContext") or {}
            if sc.get("allowPrivilegeEscalation") is not False:
                errs.append(f"{cname}: securityContext.allowPrivilegeEscalation must be false")
            if sc.get("readOnlyRootFilesystem") is not True:
                errs.append(f"{cname}: securityContext.readOnlyRootFilesystem must be true")
            if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
                errs.append(f"{cname}: securityContext.capabilities.drop must include ALL")
            if (sc.get("capabilities") or {}).get("add"):
                errs.append(f"{cname}: adds capabilities")
            if sc.get("privileged"):
                errs.append(f"{cname}: privileged")
            if sc.get("runAsNonRoot") is False or sc.get("runAsUser") == 0:
                errs.append(f"{cname}: runs as root")
            seccomp = (sc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
            if seccomp not in ("RuntimeDefault", "Localhost"):
                errs.append(f"{cname}: seccompProfile must be RuntimeDefault")
            res = c.get("resources") or {}
            req, lim = res.get("requests") or {}, res.get("limits") or {}
            for key in ("cpu", "memory"):
                if key not in req:
                    errs.append(f"{cname}: resources.requests.{key} is not set")
            if "memory" not in lim:
                errs.append(f"{cname}: resources.limits.memory is not set")
            for key in ("cpu", "memory"):
                if key in req and key in lim and quantity(lim[key]) < quantity(req[key]):
                    errs.append(f"{cname}: limits.{key} {lim[key]} < requests.{key} {req[key]}")
            env = env_map(c)
            if len(env) != len(c.get("env") or []):
                errs.append(f"{cname}: an env name appears twice")
            defined = set()
            for e in c.get("env") or []:
                for ref in var_refs(str(e.get("value", ""))):
                    if ref not in defined:
                        errs.append(f"{cname}: env {e['name']} uses $({ref}), not defined before it")
                defined.add(e["name"])
            for field in ("command", "args"):
                for a in c.get(field) or []:
                    for ref in var_refs(str(a)):
                        if ref not in env:
                            errs.append(f"{cname}: {field} uses $({ref}), which is not in its env "
                                        "(Kubernetes would pass it on literally)")
            for m in c.get("volumeMounts") or []:
                mounted.add(m["name"])
                v = volumes.get(m["name"])
                if v is None:
                    errs.append(f"{cname}: mounts {m['name']}, which is not a volume")
                    continue
                if m["mountPath"].rstrip("/") == MODEL_MOUNT:
                    pvc = v.get("persistentVolumeClaim") or {}
                    if m.get("readOnly") is not True or not pvc or pvc.get("readOnly") is not True:
                        errs.append(f"{cname}: the model volume must be a PVC mounted readOnly at "
                                    f"{MODEL_MOUNT} (readOnly on the mount and on the claim)")
            model = flag([str(a) for a in c.get("args") or []], "--model")
            if model is None and "SOFER_MODEL" in env:
                model = str(env["SOFER_MODEL"].get("value"))
            if model is not None:
                m = mount_for(model, c)
                if m is None or m["mountPath"].rstrip("/") != MODEL_MOUNT:
                    errs.append(f"{cname}: the model {model} is not under the {MODEL_MOUNT} mount")
                errs += self.sizing(owner, tmpl, c, env)
        for name in volumes:
            if name not in mounted:
                errs.append(f"volume {name} is never mounted")
        return errs

    def sizing(self, owner: dict, tmpl: dict, c: dict, env: dict) -> list[str]:
        """Requests follow the model file: deploy/README.md, 'Sizing'."""
        errs = []
        ann = ((owner.get("metadata") or {}).get("annotations") or {}).get(MODEL_BYTES_ANNOTATION)
        if ann is None or not str(ann).isdigit():
            return [f"loads a model but has no {MODEL_BYTES_ANNOTATION} annotation to size it from"]
        size = int(ann)
        res = c.get("resources") or {}
        req, lim = res.get("requests") or {}, res.get("limits") or {}
        want = MEM_FACTOR * size + MEM_OVERHEAD
        if "memory" in req:
            have = quantity(req["memory"])
            if not want <= have <= want + MEM_SLACK:
                errs.append(f"memory request {req['memory']} is not 1.2 x {size} B + 1 GiB = "
                            f"{want / GIB:.2f} GiB (rounded up by at most 1 GiB)")
            if "memory" in lim and quantity(lim["memory"]) < LIMIT_FACTOR * have:
                errs.append(f"memory limit {lim['memory']} is below 1.25 x the request")
        if "cpu" in req and req.get("cpu") != lim.get("cpu"):
            errs.append("cpu limit must equal the cpu request (the engine runs one thread per core)")
        threads = (env.get("CANDLE_NUM_THREADS") or {}).get("valueFrom", {}).get("resourceFieldRef", {})
        if threads.get("resource") != "requests.cpu":
            errs.append("CANDLE_NUM_THREADS must come from resourceFieldRef requests.cpu")
        if owner["kind"] == "Deployment":
            probe = c.get("startupProbe") or {}
            budget = probe.get("periodSeconds", 10) * probe.get("failureThreshold", 3)
            need = size / LOAD_BYTES_PER_S + LOAD_FIXED_S
            if budget < need:
                errs.append(f"startupProbe allows {budget} s; loading {size} B needs >= {need:.0f} s "
                            "(file / 50 MB/s + 60 s)")
            deadline = (owner.get("spec") or {}).get("progressDeadlineSeconds", 600)
            if deadline <= budget:
                errs.append(f"progressDeadlineSeconds {deadline} <= the startup budget {budget} s")
        return errs

    # -- kinds
    def check_Deployment(self, dep: dict, objs: list[dict]) -> list[str]:
        errs = []
        spec = dep["spec"]
        tmpl = spec["template"]
        sel = (spec.get("selector") or {}).get("matchLabels") or {}
        if not sel or any(labels(tmpl).get(k) != v for k, v in sel.items()):
            errs.append("selector.matchLabels must be set and match the pod template's labels")
        targeted = [h for h in objs if h["kind"] == "HorizontalPodAutoscaler"
                    and h["spec"]["scaleTargetRef"].get("name") == dep["metadata"]["name"]]
        if targeted and "replicas" in spec:
            errs.append("sets replicas although an HPA owns the count (apply would reset it)")
        if spec["template"]["spec"].get("terminationGracePeriodSeconds", 30) < 30:
            errs.append("terminationGracePeriodSeconds < 30: in-flight calls would be cut")
        containers = {c["name"]: c for c in tmpl["spec"]["containers"]}
        c = containers.get(APP)
        if c is None:
            return errs + [f"no container named {APP}"]
        ports = {p.get("name"): p["containerPort"] for p in c.get("ports") or []}
        env = env_map(c)
        if "grpc" not in ports or "metrics" not in ports:
            return errs + ["container sofer needs ports named grpc and metrics"]
        listeners = [("SOFER_LISTEN", ports["grpc"]), ("SOFER_METRICS_LISTEN", ports["metrics"])]
        if "http" in ports or "SOFER_HTTP_LISTEN" in env:
            listeners.append(("SOFER_HTTP_LISTEN", ports.get("http", -1)))
        for key, port in listeners:
            value = str((env.get(key) or {}).get("value", ""))
            if not value.startswith("0.0.0.0:") or port_of(value) != port:
                errs.append(f"{key} must be 0.0.0.0:{port} (the default 127.0.0.1 is unreachable "
                            "from probes and Services)")
        if self.image_ports and set(ports.values()) - self.image_ports:
            errs.append(f"container ports {sorted(ports.values())} are not all EXPOSEd by the Dockerfile")
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            p = c.get(probe) or {}
            if (p.get("grpc") or {}).get("port") != ports["grpc"]:
                errs.append(f"{probe} must be a grpc probe on the gRPC port {ports['grpc']}")
        services = [s for s in objs if s["kind"] == "Service" and (s["spec"].get("selector") or {})
                    and all(labels(tmpl).get(k) == v for k, v in s["spec"]["selector"].items())]
        headless = [s for s in services if s["spec"].get("clusterIP") == "None"]
        if not headless:
            errs.append("no headless Service (clusterIP: None) selects its pods")
        for s in services:
            for sp in s["spec"].get("ports") or []:
                tp = sp.get("targetPort", sp["port"])
                resolved = ports.get(tp) if isinstance(tp, str) else tp
                if resolved not in ports.values():
                    errs.append(f"Service/{s['metadata']['name']} port {sp['port']}: targetPort {tp} "
                                "is not a port of container sofer")
                if s in headless:
                    if sp["port"] != resolved:
                        errs.append(f"headless Service/{s['metadata']['name']}: port {sp['port']} must "
                                    f"equal the container port {resolved} (clients dial pods directly)")
                    if sp.get("name") == "grpc" and resolved != ports["grpc"]:
                        errs.append(f"Service/{s['metadata']['name']}: port grpc does not reach the "
                                    "port the probes check")
        if headless and not any(sp.get("name") == "grpc" for s in headless
                                for sp in s["spec"].get("ports") or []):
            errs.append("the headless Service has no port named grpc")
        errs += self.index_mount(c, env, tmpl["spec"], str((env.get("SOFER_INDEX") or {}).get("value", "")),
                                 want_read_only=True, role="server")
        errs += self.config(c, env, tmpl["spec"])
        return errs

    def index_mount(self, c: dict, env: dict, pod_spec: dict, raw: str, want_read_only: bool,
                    role: str) -> list[str]:
        """The index path is a version folder on the index PVC, mounted as the role needs."""
        path = expand(raw, env)
        if not path:
            return ["no index path (SOFER_INDEX or --index)"]
        m = mount_for(path, c)
        if m is None:
            return [f"index {path} is not on a mounted volume"]
        if path.rstrip("/") == m["mountPath"].rstrip("/"):
            return [f"index {path} must be a version folder inside the volume, not its root"]
        if bool(m.get("readOnly")) != want_read_only:
            return [f"index volume must be mounted {'read-only' if want_read_only else 'read-write'} "
                    f"by the {role}"]
        vol = next((v for v in pod_spec.get("volumes") or [] if v["name"] == m["name"]), {})
        claim = (vol.get("persistentVolumeClaim") or {}).get("claimName")
        if claim != INDEX_CLAIM:
            return [f"index {path} must be on the PVC {INDEX_CLAIM}, not {claim or sorted(vol)}"]
        self.index_paths[role].append(m["mountPath"])
        return []

    def config(self, c: dict, env: dict, pod_spec: dict) -> list[str]:
        errs = []
        path = str((env.get("SOFER_CONFIG") or {}).get("value", ""))
        if not path:
            return errs
        m = mount_for(path, c)
        vol = next((v for v in pod_spec.get("volumes") or [] if m and v["name"] == m["name"]), None)
        if not vol or "configMap" not in vol:
            return [f"SOFER_CONFIG {path} is not in a mounted ConfigMap"]
        self.config_refs.append((vol["configMap"]["name"], path[len(m["mountPath"]):].strip("/"), {
            "listen": expand(str(env.get("SOFER_LISTEN", {}).get("value")), env),
            "metrics_listen": expand(str(env.get("SOFER_METRICS_LISTEN", {}).get("value")), env),
            "http_listen": expand(str(env.get("SOFER_HTTP_LISTEN", {}).get("value")), env),
            "model": expand(str(env.get("SOFER_MODEL", {}).get("value")), env),
            "index": expand(str(env.get("SOFER_INDEX", {}).get("value")), env),
            "index_read_only": str(env.get("SOFER_INDEX_READ_ONLY", {}).get("value")) == "true",
        }))
        return errs

    def finish_render(self, objs: list[dict]) -> list[str]:
        """The sofer.toml of the ConfigMap that SOFER_CONFIG names agrees with the env."""
        errs = []
        cms = {o["metadata"]["name"]: o for o in objs if o["kind"] == "ConfigMap"}
        for name, key, env in self.config_refs:
            cm = cms.get(name)
            if cm is None or key not in (cm.get("data") or {}):
                errs.append(f"ConfigMap/{name}: no key {key} (SOFER_CONFIG)")
                continue
            try:
                conf = tomllib.loads(cm["data"][key])
            except tomllib.TOMLDecodeError as e:
                errs.append(f"ConfigMap/{name} {key}: not valid TOML: {e}")
                continue
            where = f"ConfigMap/{name} {key}"
            if set(conf) - TOML_KEYS:
                errs.append(f"{where}: unknown keys {sorted(set(conf) - TOML_KEYS)}")
            if set(conf.get("limits", {})) - TOML_LIMITS_KEYS:
                errs.append(f"{where}: unknown [limits] keys")
            for key2, value in env.items():
                if key2 in conf and conf[key2] != value:
                    errs.append(f"{where}: {key2} = {conf[key2]!r} but the container's env says "
                                f"{value!r}; keep them equal")
            for entry in (conf.get("auth") or {}).get("keys", []):
                if set(entry) != {"tenant", "sha256"} \
                        or not re.fullmatch(r"[0-9a-f]{64}", str(entry["sha256"])):
                    errs.append(f"{where}: [auth] keys entries are {{tenant, sha256 = 64 hex}}")
        self.config_refs = []
        return errs

    def check_HorizontalPodAutoscaler(self, hpa: dict, objs: list[dict]) -> list[str]:
        errs = []
        ref = hpa["spec"]["scaleTargetRef"]
        target = next((o for o in objs if o["kind"] == ref.get("kind")
                       and o["metadata"]["name"] == ref.get("name")
                       and o["apiVersion"] == ref.get("apiVersion")), None)
        if target is None:
            return [f"scaleTargetRef {ref} is not in this kustomization"]
        if hpa["spec"].get("minReplicas", 1) > hpa["spec"]["maxReplicas"]:
            errs.append("minReplicas > maxReplicas")
        for c in target["spec"]["template"]["spec"]["containers"]:
            if "cpu" not in ((c.get("resources") or {}).get("requests") or {}):
                errs.append(f"container {c['name']} has no cpu request to measure utilization against")
        return errs

    def check_Service(self, svc: dict, objs: list[dict]) -> list[str]:
        sel = svc["spec"].get("selector") or {}
        pods = [pod_template(o) for o in objs if pod_template(o) is not None]
        if not sel or not any(all(labels(t).get(k) == v for k, v in sel.items()) for t in pods):
            return ["its selector matches no pod template in this kustomization"]
        return []

    def check_Job(self, job: dict, objs: list[dict]) -> list[str]:
        errs = []
        spec = job["spec"]
        pod = spec["template"]["spec"]
        if (spec.get("backoffLimitPerIndex") is not None or spec.get("podFailurePolicy")) \
                and pod.get("restartPolicy") != "Never":
            errs.append("backoffLimitPerIndex and podFailurePolicy need restartPolicy: Never")
        if spec.get("backoffLimitPerIndex") is not None and spec.get("completionMode") != "Indexed":
            errs.append("backoffLimitPerIndex needs completionMode: Indexed")
        for rule in (spec.get("podFailurePolicy") or {}).get("rules") or []:
            if rule.get("action") == "FailIndex" and spec.get("backoffLimitPerIndex") is None:
                errs.append("podFailurePolicy action FailIndex needs backoffLimitPerIndex")
        c = next((c for c in pod["containers"] if c["name"] == APP), None)
        if c is None:
            return errs + [f"no container named {APP}"]
        args = [str(a) for a in c.get("args") or []]
        env = env_map(c)
        if args[:1] == ["batch"]:
            errs += self.indexed_batch(spec, c, args, env)
        elif args[:2] == ["index", "add"]:
            if spec.get("parallelism", 1) != 1 or spec.get("completions", 1) != 1:
                errs.append("the index writer must be one pod (parallelism 1, completions 1)")
            if spec.get("completionMode") == "Indexed":
                errs.append("the index writer must not be an Indexed Job")
            index = flag(args, "--index")
            if index is None:
                errs.append("`sofer index add` must name --index (a version folder)")
            else:
                errs += self.index_mount(c, env, pod, index, want_read_only=False, role="writer")
        else:
            errs.append(f"unknown job command {args[:2]}")
        return errs

    def indexed_batch(self, spec: dict, c: dict, args: list[str], env: dict) -> list[str]:
        errs = []
        if spec.get("completionMode") != "Indexed":
            return ["the batch Job must be completionMode: Indexed"]
        n = spec.get("completions")
        if not isinstance(n, int) or n < 1:
            return ["an Indexed Job needs completions"]
        if spec.get("parallelism", 1) > n:
            errs.append("parallelism > completions")
        ci = env.get("JOB_COMPLETION_INDEX")
        if ci is None or ((ci.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath") \
                not in COMPLETION_INDEX_FIELDS:
            errs.append("env JOB_COMPLETION_INDEX must come from the fieldRef "
                        "metadata.annotations['batch.kubernetes.io/job-completion-index'] "
                        "(declared so that $(JOB_COMPLETION_INDEX) expands in args)")
        shard = flag(args, "--shard")
        if shard is None:
            errs.append("args have no --shard")
        else:
            want = f"$(JOB_COMPLETION_INDEX)/{n}"
            if expand(shard, env) != want:
                errs.append(f"--shard {shard} expands to {expand(shard, env)!r}, want {want!r} "
                            f"(N must equal completions = {n})")
        out = flag(args, "--output")
        inp = flag(args, "--input")
        if out is None or inp is None:
            return errs + ["args need --input and --output"]
        if "$(JOB_COMPLETION_INDEX)" not in expand(out, env):
            errs.append(f"--output {out} must contain $(JOB_COMPLETION_INDEX): one file per shard")
        for what, path, writable in (("--output", expand(out, env), True),
                                     ("--input", expand(inp, env), False)):
            m = mount_for(path, c)
            if m is None:
                errs.append(f"{what} {path} is not on a mounted volume")
                continue
            vol = next(v for v in spec["template"]["spec"]["volumes"] if v["name"] == m["name"])
            claim = (vol.get("persistentVolumeClaim") or {}).get("claimName")
            if claim is None:
                errs.append(f"{what} {path} must be on the shared PVC, not {sorted(set(vol) - {'name'})}")
                continue
            self.shared_claims.append((claim, what))
            if writable and m.get("readOnly"):
                errs.append(f"{what} {path} is on a read-only mount")
        return errs

    def finish(self) -> list[str]:
        errs = []
        for render, owner, claim in self.claim_users:
            if claim not in self.claims:
                errs.append(f"{render}: {owner} uses PVC {claim}, which no kustomization defines")
        for claim, what in self.shared_claims:
            modes = (self.claims.get(claim) or {}).get("spec", {}).get("accessModes", [])
            if claim in self.claims and "ReadWriteMany" not in modes:
                errs.append(f"PVC {claim} ({what} of the batch shards) must be ReadWriteMany")
        models = [c for n, c in self.claims.items() if n == "sofer-models"]
        for c in models:
            if c["spec"].get("accessModes") != ["ReadOnlyMany"]:
                errs.append("PVC sofer-models must be ReadOnlyMany")
        index_modes = (self.claims.get(INDEX_CLAIM) or {}).get("spec", {}).get("accessModes", [])
        if INDEX_CLAIM in self.claims and "ReadWriteMany" not in index_modes:
            errs.append(f"PVC {INDEX_CLAIM} must be ReadWriteMany (one writer pod, many reader pods)")
        if set(self.index_paths["server"]) != set(self.index_paths["writer"]):
            errs.append(f"the servers read the index at {sorted(set(self.index_paths['server']))} but "
                        f"the writer writes it at {sorted(set(self.index_paths['writer']))}")
        return errs


# ---- Dockerfile -----------------------------------------------------------------------------


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    out, buf = [], ""
    for line in text.splitlines():
        s = line.strip()
        if not buf and (not s or s.startswith("#")):
            continue
        if buf and s.startswith("#"):
            continue
        if s.endswith("\\"):
            buf += s[:-1] + " "
            continue
        buf += s
        word, _, rest = buf.partition(" ")
        out.append((word.upper(), rest.strip()))
        buf = ""
    return out


def lint_dockerfile(path: Path, dockerignore: Path) -> tuple[list[str], int | None, set[int], dict]:
    errs: list[str] = []
    ins = dockerfile_instructions(path.read_text())
    stages: list[dict] = []
    for word, rest in ins:
        if word == "FROM":
            parts = rest.split()
            image = next(p for p in parts if not p.startswith("--"))
            upper = [p.upper() for p in parts]
            name = parts[upper.index("AS") + 1] if "AS" in upper[:-1] else None
            stages.append({"image": image, "name": name, "ins": []})
            if ":" not in image.split("/")[-1] and "@" not in image:
                errs.append(f"FROM {image}: pin a tag")
            if image.endswith(":latest"):
                errs.append(f"FROM {image}: not :latest")
        elif not stages:
            if word != "ARG":
                errs.append(f"{word} before the first FROM")
        else:
            stages[-1]["ins"].append((word, rest))
        if word == "ADD":
            if re.search(r"(^|\s)(https?|git)[:@]", rest):
                errs.append(f"ADD {rest}: no downloads in the build (use COPY; builds are offline)")
            else:
                errs.append(f"ADD {rest}: use COPY")
    if len(stages) < 2:
        errs.append("needs a builder stage and a runtime stage (at least two FROM)")
        return errs, None, set(), {}
    final = stages[-1]
    names = {s["name"] for s in stages[:-1]}
    users = [rest for w, rest in final["ins"] if w == "USER"]
    uid = None
    if not users:
        errs.append("the final stage has no USER: it would run as root")
    else:
        user = users[-1].split(":")[0]
        if user in ("root", "0"):
            errs.append(f"the final stage's USER is {users[-1]}")
        elif not user.isdigit():
            errs.append(f"USER {users[-1]}: use a numeric uid, so runAsNonRoot can verify it")
        else:
            uid = int(user)
    for w, rest in final["ins"]:
        m = re.search(r"--from=(\S+)", rest) if w == "COPY" else None
        if m and m.group(1) not in names:
            errs.append(f"COPY --from={m.group(1)}: no such stage")
    entry = [rest for w, rest in final["ins"] if w == "ENTRYPOINT"]
    if not entry or not entry[-1].startswith("["):
        errs.append("ENTRYPOINT must be in exec form (JSON), so sofer is PID 1 and gets SIGTERM")
    else:
        try:
            if json.loads(entry[-1])[0] not in ("sofer", "/usr/local/bin/sofer"):
                errs.append("ENTRYPOINT must run sofer")
        except (json.JSONDecodeError, IndexError):
            errs.append("ENTRYPOINT is not valid JSON")
    ports = set()
    for w, rest in final["ins"]:
        if w == "EXPOSE":
            ports |= {int(p.split("/")[0]) for p in rest.split()}
    env: dict[str, str] = {}
    for w, rest in final["ins"]:
        if w == "ENV":
            for m in re.finditer(r"(\w+)=(\"[^\"]*\"|\S+)", rest):
                env[m.group(1)] = m.group(2).strip('"')
    for key in ("SOFER_MODEL", "SOFER_INDEX", "SOFER_LISTEN", "SOFER_METRICS_LISTEN"):
        if key not in env:
            errs.append(f"ENV {key} is not set in the final stage")
    for key in ("SOFER_LISTEN", "SOFER_METRICS_LISTEN", "SOFER_HTTP_LISTEN"):
        if key in env and port_of(env[key]) not in ports:
            errs.append(f"ENV {key}={env[key]} is not EXPOSEd")
    if env.get("SOFER_MODEL", "").rpartition("/")[0] != MODEL_MOUNT:
        errs.append(f"ENV SOFER_MODEL must be under {MODEL_MOUNT}")
    builds = [rest for s in stages[:-1] for w, rest in s["ins"] if w == "RUN" and "cargo build" in rest]
    if not builds or not all("--locked" in b and "--release" in b for b in builds):
        errs.append("the builder must run `cargo build --release --locked`")
    if not dockerignore.is_file():
        errs.append(f"{dockerignore} is missing: the context would include target/ and models")
    else:
        pats = {line.strip().rstrip("/") for line in dockerignore.read_text().splitlines()
                if line.strip() and not line.startswith("#")}
        for want in ("target", ".git", "models", "data", ".venv"):
            if want not in pats and f"/{want}" not in pats:
                errs.append(f"{dockerignore}: does not exclude {want}")
        if not any(p.endswith("*.gguf") for p in pats):
            errs.append(f"{dockerignore}: does not exclude *.gguf")
    return errs, uid, ports, env


# ---- driver ---------------------------------------------------------------------------------


def display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def kustomization_dirs(k8s: Path) -> list[Path]:
    return sorted(p.parent for p in k8s.rglob("kustomization.yaml"))


def run(deploy: Path, dockerignore: Path, quiet: bool = False) -> list[str]:
    """Validates `deploy`; returns the problems found (printed unless quiet)."""
    failures: list[str] = []

    def fail(msg: str) -> None:
        failures.append(msg)
        if not quiet:
            print(f"FAIL {msg}")

    def ok(msg: str) -> None:
        if not quiet:
            print(f"ok   {msg}")

    dockerfile = deploy / "Dockerfile"
    image_uid, image_ports = None, set()
    if dockerfile.is_file():
        errs, image_uid, image_ports, _ = lint_dockerfile(dockerfile, dockerignore)
        for e in errs:
            fail(f"{dockerfile}: {e}")
        if not errs:
            ok(f"{display(dockerfile)}: stages, non-root USER {image_uid}, exec ENTRYPOINT, EXPOSE "
               f"{sorted(image_ports)}; {dockerignore.name}")
    else:
        fail(f"{dockerfile} is missing")

    k8s = deploy / "k8s"
    renderer = Renderer(k8s)
    checker = Checker(image_uid, image_ports)
    dirs = kustomization_dirs(k8s)
    if not dirs:
        fail(f"{k8s}: no kustomizations")
    components = []
    renders = 0
    for d in dirs:
        try:
            k = yaml.load((d / "kustomization.yaml").read_text(), Loader=StrictLoader) or {}
        except yaml.YAMLError as e:
            fail(f"{d}/kustomization.yaml: not valid YAML: {e}")
            continue
        rel = d.relative_to(k8s).as_posix()
        if k.get("kind") == "Component":
            components.append(d.resolve())
            continue
        try:
            objs = renderer.build(d)
        except Invalid as e:
            fail(f"{rel}: {e}")
            continue
        renders += 1
        for o in objs:
            errs = schema_check(o)
            for e in errs:
                fail(f"{rel}: {obj_id(o)}: {e}")
            if not errs:
                ok(f"{rel:28} {o['apiVersion']:24} {o['kind']}/{o['metadata'].get('name')}"
                   f"  (schemas {', '.join(KUBE_VERSIONS)}, strict)")
        try:
            errs = checker.render(rel, objs) + checker.finish_render(objs)
        except (Invalid, KeyError, TypeError, ValueError) as e:
            errs = [f"could not check: {type(e).__name__}: {e}"]
        for e in errs:
            fail(f"{rel}: {e}")
        if not errs:
            ok(f"{rel:28} invariants ({len(objs)} objects)")
    for c in components:
        if c not in renderer.used_components:
            fail(f"{c.relative_to(k8s.resolve())}: component used by no overlay (so never validated)")
    # Every manifest must be part of some kustomization, or it is never validated.
    for f in sorted(k8s.rglob("*")):
        if f.is_file() and f.resolve() not in renderer.used_files:
            fail(f"{f.relative_to(deploy)}: not referenced by any kustomization "
                 "(list it in `resources` or `patches`)")
    for e in checker.finish():
        fail(e)
    if not quiet:
        status = "FAILED" if failures else "passed"
        print(f"deploy validation {status}: {renders} kustomizations, {len(failures)} problems")
    return failures


def self_test(deploy: Path, dockerignore: Path) -> int:
    """Breaks copies of deploy/ in a temporary folder, one mistake at a time: each must fail the
    validation with the expected complaint (so the checks above are not vacuous)."""
    import shutil
    import tempfile

    # what: (file under deploy/, text, replacement or None to add a file, expected complaint)
    breaks = {
        "unknown field": ("k8s/base/deployment.yaml", "revisionHistoryLimit: 3",
                          "revisionHistoryLimitt: 3", "Additional properties are not allowed"),
        "wrong type": ("k8s/base/hpa.yaml", "maxReplicas: 4", "maxReplicas: four", "is not of type"),
        "bad YAML": ("k8s/base/service.yaml", "  clusterIP: None", "  clusterIP: [None", "not valid YAML"),
        "duplicate key": ("k8s/base/hpa.yaml", "  minReplicas: 1", "  minReplicas: 1\n  minReplicas: 2",
                          "duplicate key"),
        "probe on another port": ("k8s/base/deployment.yaml",
                                  "readinessProbe:\n            grpc:\n              port: 50051",
                                  "readinessProbe:\n            grpc:\n              port: 50052",
                                  "readinessProbe must be a grpc probe on the gRPC port"),
        "server listening on loopback": ("k8s/base/deployment.yaml", "value: 0.0.0.0:50051",
                                         "value: 127.0.0.1:50051", "SOFER_LISTEN must be 0.0.0.0"),
        "HTTP on another port": ("k8s/base/deployment.yaml", "value: 0.0.0.0:8080",
                                 "value: 0.0.0.0:8081", "SOFER_HTTP_LISTEN must be 0.0.0.0:8080"),
        "Service not headless": ("k8s/base/service.yaml", "  clusterIP: None", "  type: ClusterIP",
                                 "no headless Service"),
        "shard N != completions": ("k8s/batch/job.yaml", "value: \"4\"", "value: \"3\"",
                                   "N must equal completions"),
        "Job not Indexed": ("k8s/batch/job.yaml", "completionMode: Indexed",
                            "completionMode: NonIndexed", "needs completionMode: Indexed"),
        "model mounted writable": ("k8s/batch/job.yaml", "mountPath: /models\n              readOnly: true",
                                   "mountPath: /models\n              readOnly: false",
                                   "mounted readOnly at /models"),
        "index writable by the servers": ("k8s/base/deployment.yaml",
                                          "mountPath: /data/index\n              readOnly: true",
                                          "mountPath: /data/index\n              readOnly: false",
                                          "index volume must be mounted read-only"),
        "root pod": ("k8s/index/job.yaml", "runAsUser: 10001\n        runAsGroup",
                     "runAsUser: 0\n        runAsGroup", "runAsUser must be a non-zero uid"),
        "writable root filesystem": ("k8s/index/job.yaml", "readOnlyRootFilesystem: true",
                                     "readOnlyRootFilesystem: false", "readOnlyRootFilesystem must be true"),
        "undefined $(VAR)": ("k8s/batch/job.yaml", "shard-$(JOB_COMPLETION_INDEX)", "shard-$(JOB_INDEX)",
                             "uses $(JOB_INDEX)"),
        "under-sized memory": ("k8s/components/mixtral-q5km/size.yaml", "memory: 38Gi", "memory: 30Gi",
                               "memory request 30Gi is not"),
        "short startup budget": ("k8s/components/mixtral-q5km/kustomization.yaml", "value: 90",
                                 "value: 30", "startupProbe allows 300 s"),
        "failing patch": ("k8s/components/mistral-7b-q5km/size.yaml", "value: sofer", "value: other",
                          "test /spec/template/spec/containers/0/name"),
        "unsupported kustomize key": ("k8s/batch/kustomization.yaml", "namespace: sofer",
                                      "namespace: sofer\nnamePrefix: x-", "are not supported"),
        "Dockerfile runs as root": ("Dockerfile", "USER 10001:10001", "USER root", "USER is root"),
        "ConfigMap disagrees": ("k8s/base/configmap.yaml", "listen = \"0.0.0.0:50051\"",
                                "listen = \"0.0.0.0:50052\"", "keep them equal"),
        "unreferenced manifest": ("k8s/base/stray.yaml", None,
                                  "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
                                  "not referenced by any kustomization"),
    }
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        pristine = Path(tmp) / "pristine"
        shutil.copytree(deploy, pristine / "deploy")
        shutil.copy(dockerignore, pristine / ".dockerignore")
        if run(pristine / "deploy", pristine / ".dockerignore", quiet=True):
            print("FAIL self-test: the unbroken copy does not pass, so nothing can be tested")
            return 1
        for i, (what, (rel, old, new, expect)) in enumerate(breaks.items()):
            case = Path(tmp) / f"case{i}"
            shutil.copytree(pristine, case)
            target = case / "deploy" / rel
            if old is None:
                target.write_text(new)
            else:
                text = target.read_text()
                if old not in text:
                    print(f"FAIL self-test ({what}): {rel} no longer contains {old!r}; update the test")
                    failed += 1
                    continue
                target.write_text(text.replace(old, new, 1))
            problems = run(case / "deploy", case / ".dockerignore", quiet=True)
            if not any(expect in p for p in problems):
                print(f"FAIL self-test: {what} went unnoticed (wanted {expect!r}; got {problems})")
                failed += 1
            else:
                print(f"ok   self-test: {what} is caught")
            shutil.rmtree(case)
    return 1 if failed else 0


def size(arg: str) -> int:
    n = int(arg) if arg.isdigit() else Path(arg).stat().st_size
    req = MEM_FACTOR * n + MEM_OVERHEAD
    step = GIB if req >= 4 * GIB else 64 << 20  # whole GiB for big models, 64 MiB for small
    req_r = math.ceil(req / step) * step
    lim = math.ceil(LIMIT_FACTOR * req_r / step) * step
    startup = n / LOAD_BYTES_PER_S + LOAD_FIXED_S
    fmt = lambda b: f"{b / GIB:g}Gi" if b % GIB == 0 else f"{int(b) >> 20}Mi"  # noqa: E731
    print(f"model file:      {n} bytes = {n / GIB:.2f} GiB")
    print(f"memory request:  {fmt(req_r)}  (>= 1.2 x file + 1 GiB = {req / GIB:.2f} GiB)")
    print(f"memory limit:    {fmt(lim)}  (>= 1.25 x request)")
    print(f"startup budget:  >= {math.ceil(startup)} s  (file / 50 MB/s + 60 s; "
          f"failureThreshold >= {math.ceil(startup / 10)} at periodSeconds 10)")
    print(f"annotation:      {MODEL_BYTES_ANNOTATION}: \"{n}\"")
    return 0


def main() -> int:
    here = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--deploy", type=Path, default=here / "deploy")
    ap.add_argument("--dockerignore", type=Path, default=here / ".dockerignore")
    ap.add_argument("--self-test", action="store_true",
                    help="also break copies of the manifests and check that each break fails")
    ap.add_argument("--size", metavar="FILE_OR_BYTES", help="print the requests for a model file")
    a = ap.parse_args()
    if a.size:
        return size(a.size)
    rc = 1 if run(a.deploy, a.dockerignore) else 0
    if a.self_test:
        rc |= self_test(a.deploy, a.dockerignore)
    return rc


if __name__ == "__main__":
    sys.exit(main())
