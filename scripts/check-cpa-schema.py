#!/usr/bin/env python3
"""Checks CustomPodAutoscaler resources against the CPA CRD's schema.

usage: check-cpa-schema.py CRD FILE...   (FILE is PATH or LABEL=PATH; the
label names the file in messages, e.g. for a kustomize rendering)

kubernetes-validate has only Kubernetes' own schemas; a cluster checks a
CustomPodAutoscaler against the openAPIV3Schema of the CRD the operator
installs. This does the same offline, as strictly as `kubectl apply
--validate=strict`: the schema is structural, so a cluster prunes a field it
does not list (strict validation reports it; plain apply drops it, and CPA
never sees it), and here such a field is an error. Kubernetes' extensions:
  x-kubernetes-preserve-unknown-fields  no pruning below it
  x-kubernetes-int-or-string            an integer or a string
  x-kubernetes-embedded-resource        apiVersion, kind, metadata of its own
  x-kubernetes-list-type set / map      no duplicate items / keys
  x-kubernetes-map-type                 only how apply merges: not checked
Any other x-kubernetes-* keyword (CEL rules) stops the check: a CRD that
gains one must not pass here unchecked. `format` is not checked: the API
server validates only string formats, and this CRD has none of those.
The top-level metadata is an ObjectMeta, which the API server checks with
its own schema; check-deploy.sh checks it through kubernetes-validate.

Prints one line per problem, naming the file, the resource and the field,
and exits 1 if there was any.
Standard library, PyYAML and jsonschema only (scripts/setup-tools.sh).
"""
import json
import sys

import jsonschema
import yaml

INT_OR_STRING = [{"type": "integer"}, {"type": "string"}]
# The extensions convert() knows; x-kubernetes-map-type says only how
# server-side apply merges, so there is nothing of it to check.
HANDLED = {
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-int-or-string",
    "x-kubernetes-embedded-resource",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type",
}
# Not validation: kept out of the JSON Schema.
DROPPED = {"description", "format", "example", "externalDocs", "title", "nullable"}


class UnhandledKeyword(Exception):
    pass


def convert(schema, where, prune=True):
    """The JSON Schema (draft 4, which OpenAPI v3.0 follows) that rejects
    what a cluster's validation and pruning would. `prune` is off inside
    allOf/anyOf/oneOf/not, whose branches need not list every property."""
    out = {}
    for key, value in schema.items():
        if key.startswith("x-kubernetes-"):
            if key not in HANDLED:
                raise UnhandledKeyword(f"{key} at {where}")
            continue
        if key in DROPPED:
            continue
        if key == "properties":
            out[key] = {n: convert(s, f"{where}.{n}", prune) for n, s in value.items()}
        elif key == "items":
            out[key] = convert(value, f"{where}[]", prune)
        elif key == "additionalProperties" and isinstance(value, dict):
            out[key] = convert(value, f"{where}.*", prune)
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [convert(s, where, prune=False) for s in value]
        elif key == "not":
            out[key] = convert(value, where, prune=False)
        else:
            out[key] = value
    if schema.get("nullable"):
        if "type" in out:
            out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = out["enum"] + [None]
    # controller-gen writes the anyOf itself as well.
    if schema.get("x-kubernetes-int-or-string") and schema.get("anyOf") != INT_OR_STRING:
        out.setdefault("allOf", []).append({"anyOf": INT_OR_STRING})
    if schema.get("x-kubernetes-embedded-resource"):
        props = out.setdefault("properties", {})
        props.setdefault("apiVersion", {"type": "string", "minLength": 1})
        props.setdefault("kind", {"type": "string", "minLength": 1})
        # An ObjectMeta, which the API server checks with its own schema.
        props["metadata"] = {"type": "object"}
        out["required"] = sorted(set(out.get("required", [])) | {"apiVersion", "kind"})
    if schema.get("x-kubernetes-list-type") == "set":
        out["uniqueItems"] = True
    if schema.get("x-kubernetes-list-type") == "map":
        out["listMapKeys"] = schema.get("x-kubernetes-list-map-keys", [])
    if (
        prune
        and schema.get("type") == "object"
        and not schema.get("x-kubernetes-preserve-unknown-fields")
        and "additionalProperties" not in schema
    ):
        out["additionalProperties"] = False
    return out


def list_map_keys(validator, keys, instance, schema):
    """x-kubernetes-list-type: map: no two items with the same keys, a
    missing key taking its default as the API server defaults it."""
    if not validator.is_type(instance, "array"):
        return
    props = schema.get("items", {}).get("properties", {})
    seen = {}
    for i, item in enumerate(instance):
        if not isinstance(item, dict):
            continue
        key = json.dumps([item.get(k, props.get(k, {}).get("default")) for k in keys])
        if key in seen:
            yield jsonschema.ValidationError(
                f"items {seen[key]} and {i} have the same {'/'.join(keys)} ({key[1:-1]})"
            )
        seen.setdefault(key, i)


Validator = jsonschema.validators.extend(
    jsonschema.Draft4Validator, {"listMapKeys": list_map_keys}
)


class StrictLoader(yaml.SafeLoader):
    """Strict field validation rejects a key given twice; PyYAML keeps the
    last one silently."""


def _mapping(loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate field {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep)


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def field(path):
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else p)
    return out or "(the resource)"


def messages(error):
    """One line per field, kubectl's words for an unknown field."""
    at = field(error.absolute_path)
    if error.validator == "additionalProperties" and error.validator_value is False:
        known = error.schema.get("properties", {})
        for name in sorted(set(error.instance) - set(known)):
            full = f"{at}.{name}" if error.absolute_path else name
            listed = f"the CRD lists {', '.join(sorted(known))}" if len(known) <= 12 else f"not among the {len(known)} the CRD lists"
            yield f'unknown field "{full}" ({listed if known else "the CRD lists no fields there"})'
        return
    if error.validator == "anyOf" and error.validator_value == INT_OR_STRING:
        yield f"{at}: {error.instance!r} is neither an integer nor a string"
        return
    if error.validator in ("anyOf", "oneOf", "allOf") and error.context:
        for sub in error.context:
            yield from messages(sub)
        return
    yield f"{at}: {error.message}"


def served_schemas(crd):
    spec = crd["spec"]
    group, kind = spec["group"], spec["names"]["kind"]
    schemas = {}
    for version in spec["versions"]:
        if version.get("served"):
            schema = convert(version["schema"]["openAPIV3Schema"], kind)
            # An ObjectMeta: the API server checks it with its own schema
            # (kubernetes-validate does here, in check-deploy.sh).
            schema["properties"]["metadata"] = {"type": "object"}
            schemas[f"{group}/{version['name']}"] = schema
    return kind, schemas


def main(argv):
    if len(argv) < 2:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    crd_path, files = argv[0], argv[1:]
    try:
        kind, schemas = served_schemas(yaml.safe_load(open(crd_path)))
    except UnhandledKeyword as e:
        print(f"check-cpa-schema: {crd_path} uses {e}, which this check does not know", file=sys.stderr)
        return 1
    problems, checked = [], 0
    for arg in files:
        label, _, path = arg.rpartition("=")
        label = label or path
        try:
            docs = [d for d in yaml.load_all(open(path), Loader=StrictLoader) if d]
        except yaml.YAMLError as e:
            problems.append(f"{label}: {e}".replace("\n", " "))
            continue
        for doc in docs:
            if not isinstance(doc, dict) or doc.get("kind") != kind:
                continue
            checked += 1
            name = (doc.get("metadata") or {}).get("name")
            where = f"{label}: {kind} {name or '(no name)'}"
            if not isinstance(name, str) or not name:
                problems.append(f"{where}: metadata.name: required")
            schema = schemas.get(doc.get("apiVersion"))
            if schema is None:
                problems.append(
                    f"{where}: apiVersion {doc.get('apiVersion')!r} is not one the CRD serves ({', '.join(sorted(schemas))})"
                )
                continue
            errors = sorted(Validator(schema).iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
            problems += [f"{where}: {m}" for e in errors for m in messages(e)]
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        print(f"check-cpa-schema: {len(problems)} problems in {checked} {kind} resources ({crd_path})", file=sys.stderr)
        return 1
    print(f"check-cpa-schema: {checked} {kind} resources match {crd_path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
