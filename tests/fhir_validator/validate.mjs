// An independent FHIR R4B validator for the server's answers, built only from HL7's own
// artefacts: the official core package hl7.fhir.r4b.core 4.3.0 (its JSON schema,
// openapi/fhir.schema.json, and its StructureDefinitions), applied with ajv and HL7's
// FHIRPath engine (fhirpath.js). The server builds its answers with fhir.resources; checking
// them with the same library would prove nothing, so nothing here is Python.
//
// It checks, for a resource and every resource contained in it:
//   1. the JSON schema: element names, JSON types, primitive patterns, required code values;
//   2. the StructureDefinitions' minimum cardinalities (the schema does not carry them:
//      OperationOutcome.issue, issue.severity, issue.code, CoverageEligibilityResponse.status...),
//      into every complex datatype and backbone element;
//   3. the error-severity invariants (ele-1, ext-1, dom-*, ces-1...) with FHIRPath.
//
// Usage: `node validate.mjs FILE...` (each a JSON resource; exit 1 if any is invalid), or
// `node validate.mjs --lines`: one JSON resource per stdin line, one JSON result per stdout
// line ({"valid": bool, "errors": [...]}), so a test session starts it once.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { createInterface } from "node:readline";
import { dirname, join } from "node:path";

import Ajv from "ajv";
import fhirpath from "fhirpath";
import r4Model from "fhirpath/fhir-context/r4/index.js";

const require = createRequire(import.meta.url);
const CORE = dirname(require.resolve("hl7.fhir.r4b.core/package.json"));
const schema = JSON.parse(readFileSync(join(CORE, "openapi/fhir.schema.json"), "utf8"));
delete schema.$schema; // draft-06, which ajv reads without its meta-schema
delete schema.id;
const ajv = new Ajv({ strict: false, allErrors: true, unicodeRegExp: false });
ajv.addSchema(schema, "fhir");
// The root schema is a oneOf over every resource; checking against the resource's own
// definition gives errors that name the element rather than "must match one of 140".
function checkSchema(resource) {
  const check = ajv.getSchema(`fhir#/definitions/${resource?.resourceType}`) ?? ajv.getSchema("fhir");
  return check(resource) ? [] : check.errors;
}

const definitions = new Map();
function structure(type) {
  if (!definitions.has(type)) {
    let sd = null;
    try {
      sd = JSON.parse(readFileSync(join(CORE, `StructureDefinition-${type}.json`), "utf8"));
    } catch {
      sd = null; // primitive types' and System.* types' children are not walked
    }
    definitions.set(type, sd);
  }
  return definitions.get(type);
}

const PRIMITIVE = /^[a-z]/;

function coreFile(name) {
  try {
    return JSON.parse(readFileSync(join(CORE, name), "utf8"));
  } catch {
    return null;
  }
}

// The codes of a required binding's value set, from the core package's ValueSet and
// CodeSystem (hierarchies included); null when the set is not a plain list of systems and
// codes (a filter, another value set): then the code is not checked.
const valueSets = new Map();
function codes(canonical) {
  const url = canonical.split("|")[0];
  if (valueSets.has(url)) return valueSets.get(url);
  let result = new Set();
  const vs = coreFile(`ValueSet-${url.slice(url.lastIndexOf("/") + 1)}.json`);
  const includes = vs?.compose?.include ?? [];
  if (!vs || includes.length === 0 || vs.compose.exclude) result = null;
  for (const inc of includes) {
    if (!result) break;
    if (inc.filter || inc.valueSet || !inc.system) {
      result = null;
    } else if (inc.concept) {
      inc.concept.forEach((c) => result.add(c.code));
    } else {
      const cs = coreFile(`CodeSystem-${inc.system.slice(inc.system.lastIndexOf("/") + 1)}.json`);
      if (!cs || cs.url !== inc.system || cs.content !== "complete") {
        result = null;
      } else {
        const add = (list) => list?.forEach((c) => (result.add(c.code), add(c.concept)));
        add(cs.concept);
      }
    }
  }
  valueSets.set(url, result);
  return result;
}
const compiled = new Map();

// dom-3 traces its unmatched references: kept out of the output.
const quiet = { traceFn: () => {} };

// An invariant fails when it evaluates to false; empty (nothing to test, a Reference with only
// a display for ref-1) is no failure. R4B's dom-3 applies `as()` to collections, which
// fhirpath.js (FHIRPath N1, strict) refuses; it is read as ofType(), what it means there.
function invariant(node, base, expression, resource, root) {
  const key = `${base}\u0000${expression}`;
  if (!compiled.has(key)) {
    const lenient = expression.replace(/\bas\(/g, "ofType(");
    compiled.set(key, fhirpath.compile({ base, expression: lenient }, r4Model, quiet));
  }
  const result = compiled.get(key)(node, { resource, rootResource: root });
  return !(result.length === 1 && result[0] === false);
}

// The element definitions of one type, by path, and the direct children of each path.
function elements(type) {
  const sd = structure(type);
  if (!sd) return null;
  const byPath = new Map();
  const children = new Map();
  for (const e of sd.snapshot.element) {
    byPath.set(e.path, e);
    const parent = e.path.slice(0, e.path.lastIndexOf("."));
    if (e.path.includes(".")) {
      if (!children.has(parent)) children.set(parent, []);
      children.get(parent).push(e);
    }
  }
  return { byPath, children };
}

function valuesOf(node, e) {
  const name = e.path.slice(e.path.lastIndexOf(".") + 1);
  if (name.endsWith("[x]")) {
    const prefix = name.slice(0, -3);
    const keys = Object.keys(node).filter(
      (k) => k.startsWith(prefix) && /^[A-Z]/.test(k.slice(prefix.length)),
    );
    return { key: keys[0] ?? name, values: keys.flatMap((k) => [].concat(node[k])) };
  }
  const present = node[name] !== undefined || node[`_${name}`] !== undefined;
  const value = node[name] ?? node[`_${name}`];
  return { key: name, values: present ? [].concat(value) : [] };
}

// Walks `node`, an instance of the element at `path` of `type`, checking cardinalities and
// invariants; complex children are walked with their own type's definition.
function walk(node, type, path, where, resource, root, errors) {
  const defs = elements(type);
  if (!defs || typeof node !== "object" || node === null) return;
  const here = defs.byPath.get(path);
  for (const c of here?.constraint ?? []) {
    if (c.severity !== "error" || !c.expression) continue;
    try {
      if (!invariant(node, path, c.expression, resource, root)) {
        errors.push(`${where}: invariant ${c.key} fails: ${c.human}`);
      }
    } catch (err) {
      errors.push(`${where}: invariant ${c.key} could not be evaluated: ${err.message}`);
    }
  }
  for (const e of defs.children.get(path) ?? []) {
    const { key, values } = valuesOf(node, e);
    if (values.length < e.min) {
      errors.push(`${where}.${key}: at least ${e.min} required (${e.path})`);
    }
    if (e.max !== "*" && values.length > Number(e.max)) {
      errors.push(`${where}.${key}: at most ${e.max} allowed (${e.path})`);
    }
    values.forEach((value, i) => {
      const at = values.length > 1 || e.max === "*" ? `${where}.${key}[${i}]` : `${where}.${key}`;
      const types = (e.type ?? []).map((t) => t.code);
      if (key === "contained" || types.includes("Resource")) {
        walkResource(value, at, root, errors);
      } else if (types.includes("BackboneElement") || types.includes("Element") && !e.contentReference) {
        walk(value, type, e.path, at, resource, root, errors);
      } else if (e.contentReference) {
        walk(value, type, e.contentReference.slice(1), at, resource, root, errors);
      } else {
        const name = e.path.slice(e.path.lastIndexOf(".") + 1);
        const code = name.endsWith("[x]")
          ? types.find((t) => key === name.slice(0, -3) + t[0].toUpperCase() + t.slice(1))
          : types[0];
        if (code === "code" && e.binding?.strength === "required" && typeof value === "string") {
          const allowed = codes(e.binding.valueSet);
          if (allowed && !allowed.has(value)) {
            errors.push(`${at}: ${JSON.stringify(value)} is not in ${e.binding.valueSet} (required)`);
          }
        }
        if (code && !PRIMITIVE.test(code) && !code.startsWith("http")) {
          walk(value, code, code, at, resource, root, errors);
        }
      }
    });
  }
}

function walkResource(resource, where, root, errors) {
  const type = resource?.resourceType;
  if (!structure(type)) {
    errors.push(`${where}: unknown resourceType ${type}`);
    return;
  }
  walk(resource, type, type, `${where}(${type})`, resource, root, errors);
}

export function validate(resource) {
  const errors = [];
  for (const e of checkSchema(resource)) {
    {
      errors.push(`schema ${e.instancePath || "/"}: ${e.message}`);
    }
  }
  walkResource(resource, "", resource, errors);
  return { valid: errors.length === 0, errors };
}

const args = process.argv.slice(2);
if (args[0] === "--lines") {
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (!line.trim()) continue;
    let result;
    try {
      result = validate(JSON.parse(line));
    } catch (err) {
      result = { valid: false, errors: [`not JSON: ${err.message}`] };
    }
    process.stdout.write(`${JSON.stringify(result)}\n`);
  }
} else if (args.length > 0) {
  let ok = true;
  for (const file of args) {
    const result = validate(JSON.parse(readFileSync(file, "utf8")));
    ok &&= result.valid;
    console.log(result.valid ? `${file}: valid` : `${file}: INVALID\n  ${result.errors.join("\n  ")}`);
  }
  process.exit(ok ? 0 : 1);
}
