// Validates Kubernetes manifests against the API's JSON schemas, offline.
//
// stdin: a JSON array of {file, index, doc}; stdout: a JSON array of
// {file, index, kind, name, checked, errors: [string]} (one per document).
//
// - Built-in kinds (apps/v1 Deployment, v1 Service, autoscaling/v2 HPA, ...):
//   the kubernetes-models class of that apiVersion and kind validates it.
// - ServiceMonitor: @kubernetes-models/prometheus-operator (from the operator's CRDs).
// - KServe ServingRuntime, ClusterServingRuntime, InferenceService: no maintained
//   package publishes their schemas, so kserve_schema.json (extracted from KServe's
//   CRDs by extract_kserve_schema.py) checks the fields KServe adds, and the fields
//   that are Kubernetes types (containers, volumes, the container fields of
//   predictor.model) are validated as a Pod by kubernetes-models.
// - Kustomization (read by kubectl, never sent to the API): its top-level fields.
//
// The generated validators accept unknown fields (the Kubernetes OpenAPI schemas
// do not forbid them), while the API server drops or refuses them, so a misspelt
// field would pass. Each document is therefore passed through a Proxy that records
// which properties the validator looked up: a key of an object the validator
// inspected field by field but never asked for is an unknown field.
"use strict";

const fs = require("fs");
const path = require("path");
const Ajv = require("ajv");

const KSERVE = JSON.parse(fs.readFileSync(path.join(__dirname, "kserve_schema.json"), "utf8"));
const KUSTOMIZATION_FIELDS = new Set([
  "apiVersion", "kind", "metadata", "namespace", "namePrefix", "nameSuffix", "resources", "components",
  "labels", "commonLabels", "commonAnnotations", "images", "replicas", "patches", "configMapGenerator",
  "secretGenerator", "generatorOptions", "replacements", "buildMetadata", "sortOptions"]);

// ---------------------------------------------------------------- unknown fields

// A deep copy of `value` whose objects record the keys read from them.
function tracked(value, at, nodes) {
  if (Array.isArray(value)) return value.map((v, i) => tracked(v, `${at}/${i}`, nodes));
  if (value === null || typeof value !== "object") return value;
  const node = { at, keys: Object.keys(value), read: new Set(), enumerated: false };
  nodes.push(node);
  const copy = {};
  for (const [k, v] of Object.entries(value)) copy[k] = tracked(v, `${at}/${k}`, nodes);
  return new Proxy(copy, {
    get(target, key, receiver) {
      if (typeof key === "string") node.read.add(key);
      return Reflect.get(target, key, receiver);
    },
    has(target, key) {
      if (typeof key === "string") node.read.add(key);
      return Reflect.has(target, key);
    },
    ownKeys(target) {
      node.enumerated = true;  // a map (labels, data, ...): every key is accepted
      return Reflect.ownKeys(target);
    },
  });
}

function unknownFields(nodes) {
  const errors = [];
  for (const node of nodes) {
    // Objects the validator never inspected (free-form, or below a type error) are not judged.
    if (node.enumerated || node.read.size === 0) continue;
    for (const key of node.keys) {
      if (!node.read.has(key)) errors.push(`${node.at || "/"}: unknown field "${key}"`);
    }
  }
  return errors;
}

// Runs a kubernetes-models class's validator on `doc`: schema errors plus unknown fields.
function validateModel(Model, doc, at = "") {
  const nodes = [];
  const data = tracked(doc, at, nodes);
  const errors = [];
  try {
    Model.prototype.validate.call(data);
  } catch (e) {
    for (const err of e.errors || [{ instancePath: "", message: e.message }]) {
      errors.push(`${at}${err.instancePath || ""}: ${err.message}${err.params ? " " + JSON.stringify(err.params) : ""}`);
    }
  }
  return errors.concat(unknownFields(nodes));
}

// ---------------------------------------------------------------- built-in kinds

function modelClass(apiVersion, kind) {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : [null, apiVersion];
  let module;
  try {
    if (group === "monitoring.coreos.com") {
      module = require(`@kubernetes-models/prometheus-operator/${group}/${version}`);
    } else {
      module = require(group ? `kubernetes-models/${group}/${version}` : `kubernetes-models/${version}`);
    }
  } catch (e) {
    return null;
  }
  const Model = module[kind];
  return Model && Model.apiVersion === apiVersion && Model.kind === kind ? Model : null;
}

const { Pod, ConfigMap } = require("kubernetes-models/v1");

function validateMetadata(metadata) {
  const errors = validateModel(ConfigMap, { apiVersion: "v1", kind: "ConfigMap", metadata });
  return errors.map((e) => e.replace(/^\/metadata/, "/metadata"));
}

// `fields` of `object` (Kubernetes PodSpec fields) validated as a Pod's spec.
function validatePodFields(object, fields, at) {
  const spec = {};
  for (const f of fields) if (object[f] !== undefined) spec[f] = object[f];
  if (Object.keys(spec).length === 0) return [];
  const added = spec.containers === undefined;
  if (added) spec.containers = [];
  const errors = validateModel(Pod, { apiVersion: "v1", kind: "Pod", metadata: { name: "x" }, spec });
  return errors.map((e) => e.replace(/^\/spec/, at)).filter((e) => !(added && e.includes("/containers")));
}

// `fields` of `object` (Kubernetes Container fields) validated as a container.
function validateContainerFields(object, fields, at) {
  const container = { name: "kserve-container" };
  for (const f of fields) if (object[f] !== undefined) container[f] = object[f];
  const errors = validateModel(Pod, { apiVersion: "v1", kind: "Pod", metadata: { name: "x" },
                                      spec: { containers: [container] } });
  return errors.map((e) => e.replace(/^\/spec\/containers\/0/, at));
}

// ---------------------------------------------------------------- KServe

const ajv = new Ajv({ allErrors: true, strict: false });
// The OpenAPI integer formats of KServe's CRDs (the API server enforces their ranges).
ajv.addFormat("int32", { type: "number", validate: (n) => Number.isInteger(n) && Math.abs(n) <= 2 ** 31 - 1 });
ajv.addFormat("int64", { type: "number", validate: (n) => Number.isInteger(n) });
const kserveValidators = {};

function k8sFields(schema, type) {
  return Object.entries(schema.properties || {}).filter(([, s]) => s["x-k8s"] === type).map(([k]) => k);
}

function validateKServeSpec(schemaName, spec) {
  const schema = KSERVE[schemaName];
  kserveValidators[schemaName] = kserveValidators[schemaName] || ajv.compile(schema);
  const validate = kserveValidators[schemaName];
  const errors = [];
  if (!validate(spec)) {
    for (const err of validate.errors) {
      errors.push(`/spec${err.instancePath}: ${err.message} ${JSON.stringify(err.params)}`);
    }
  }
  if (schemaName === "ServingRuntime") {
    errors.push(...validatePodFields(spec, k8sFields(schema, "PodSpec"), "/spec"));
  } else if (spec && spec.predictor) {
    const predictor = schema.properties.predictor;
    errors.push(...validatePodFields(spec.predictor, k8sFields(predictor, "PodSpec"), "/spec/predictor"));
    if (spec.predictor.model) {
      errors.push(...validateContainerFields(spec.predictor.model, k8sFields(predictor.properties.model, "Container"),
                                             "/spec/predictor/model"));
    }
  }
  return errors;
}

const KSERVE_KINDS = {
  "serving.kserve.io/v1alpha1 ServingRuntime": "ServingRuntime",
  "serving.kserve.io/v1alpha1 ClusterServingRuntime": "ServingRuntime",
  "serving.kserve.io/v1beta1 InferenceService": "InferenceService",
};

// ---------------------------------------------------------------- one document

function validateDocument(doc) {
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) return { checked: "none", errors: ["not an object"] };
  const key = `${doc.apiVersion} ${doc.kind}`;
  if (KSERVE_KINDS[key]) {
    const errors = [];
    for (const k of Object.keys(doc)) {
      if (!["apiVersion", "kind", "metadata", "spec"].includes(k)) errors.push(`/: unknown field "${k}"`);
    }
    errors.push(...validateMetadata(doc.metadata || {}));
    if (!doc.metadata || !doc.metadata.name) errors.push("/metadata: name is required");
    errors.push(...validateKServeSpec(KSERVE_KINDS[key], doc.spec));
    return { checked: `KServe CRD fields (${KSERVE.source}) + Kubernetes types`, errors };
  }
  if (doc.kind === "Kustomization" && String(doc.apiVersion).startsWith("kustomize.config.k8s.io/")) {
    const errors = Object.keys(doc).filter((k) => !KUSTOMIZATION_FIELDS.has(k)).map((k) => `/: unknown field "${k}"`);
    return { checked: "Kustomization top-level fields", errors };
  }
  const Model = modelClass(String(doc.apiVersion), String(doc.kind));
  if (!Model) return { checked: "none", errors: [`no schema for apiVersion ${doc.apiVersion} kind ${doc.kind}`] };
  const source = String(doc.apiVersion).startsWith("monitoring.coreos.com") ? "prometheus-operator" : "kubernetes";
  return { checked: `${source} schema ${doc.apiVersion} ${doc.kind}`, errors: validateModel(Model, doc) };
}

function main() {
  const input = JSON.parse(fs.readFileSync(0, "utf8"));
  const results = input.map(({ file, index, doc }) => {
    const { checked, errors } = validateDocument(doc);
    return { file, index, kind: doc && doc.kind, name: doc && doc.metadata && doc.metadata.name, checked, errors };
  });
  process.stdout.write(JSON.stringify(results, null, 1) + "\n");
}

if (require.main === module) main();
module.exports = { validateDocument };
