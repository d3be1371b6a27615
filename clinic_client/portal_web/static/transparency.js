// The person's own check of an access record, in their browser: that the record is a leaf of
// the access log's Merkle tree (RFC 9162 §2.1.3.2), that the tree's checkpoint is signed by the
// log's key (C2SP signed note, Ed25519) and cosigned by a witness (C2SP cosignature/v1). The
// same checks as onshi_kernel.transparency, written out again here so that the page does not
// have to take the server's word for them: only the keys it is configured with are trusted.
//
// No dependencies and no network: SHA-256 and Ed25519 are WebCrypto's (a secure context, which
// the portal on 127.0.0.1 is). Every function that hashes or verifies is async; none keeps state.
// Sizes and indices are BigInt, as a checkpoint's size may be any 64-bit number.
(function (global) {
  "use strict";

  const HASH_SIZE = 32;
  const ALG_ED25519 = 0x01;
  const ALG_COSIGNATURE_V1 = 0x04;
  const MAX_SIGNATURES = 100; // as Go's reader; the spec asks for at least 16
  const MAX_TIME = (1n << 63n) - 1n;
  const MAX_SIZE = (1n << 64n) - 1n;
  const DASH = "\u2014 "; // em dash and a space, as signature lines begin
  const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
  const DECIMAL = /^(?:0|[1-9][0-9]*)$/;
  // The space characters Go's unicode.IsSpace (and Python's str.isspace) see in a key name;
  // JavaScript's \s differs from both (it has U+FEFF and lacks U+0085).
  const SPACE = /[\t\n\v\f\r \x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/;

  /** A refused input; `reason` says which check failed, `step` which part of the record. */
  class TransparencyError extends Error {
    constructor(reason, step) {
      super(reason);
      this.name = "TransparencyError";
      this.reason = reason;
      this.step = step;
    }
  }

  const fail = (reason, step) => { throw new TransparencyError(reason, step); };

  function subtle() {
    if (!global.crypto || !global.crypto.subtle) {
      fail("WebCrypto is not available here (the page is not a secure context)", "setup");
    }
    return global.crypto.subtle;
  }

  const encoder = new TextEncoder();
  const utf8 = (text) => encoder.encode(text);

  function concat(...parts) {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
  }

  function equal(a, b) {
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }

  const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

  /** The bytes of standard, padded base64 (as Python's b64decode(validate=True)). */
  function fromBase64(text, what = "the value", step = "input") {
    if (typeof text !== "string" || !BASE64.test(text)) fail(`${what} is not base64`, step);
    const binary = global.atob(text);
    const out = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
    return out;
  }

  /** Standard, padded base64 of `bytes`. */
  function toBase64(bytes) {
    let binary = "";
    for (const b of bytes) binary += String.fromCharCode(b);
    return global.btoa(binary);
  }

  async function sha256(bytes) {
    return new Uint8Array(await subtle().digest("SHA-256", bytes));
  }

  function asBytes(value, what, step) {
    if (value instanceof Uint8Array) return value;
    if (value instanceof ArrayBuffer) return new Uint8Array(value);
    return fail(`${what} is not bytes`, step);
  }

  // An index or a size: a BigInt, a safe non-negative integer, or a decimal string.
  function toCount(value, what, step) {
    if (typeof value === "bigint" && value >= 0n && value <= MAX_SIZE) return value;
    if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) return BigInt(value);
    if (typeof value === "string" && DECIMAL.test(value) && BigInt(value) <= MAX_SIZE) {
      return BigInt(value);
    }
    return fail(`${what} is not a whole number from 0 to 2^64-1`, step);
  }

  // --- The tree (RFC 9162 §2.1) ---

  /** SHA-256(0x00 ‖ data): the hash of a leaf holding `data`. */
  async function leafHash(data) {
    return sha256(concat(Uint8Array.of(0), asBytes(data, "the leaf", "proof")));
  }

  /** SHA-256(0x01 ‖ left ‖ right): the hash of an inner node. */
  async function nodeHash(left, right) {
    return sha256(concat(Uint8Array.of(1), left, right));
  }

  /** The root that `proof` leads to from leaf `index` of a tree of `size` (RFC 9162
   * §2.1.3.2); refused when the proof cannot belong to that index and size. */
  async function rootFromInclusion(leaf, index, size, proof) {
    const m = toCount(index, "the leaf index", "proof");
    const n = toCount(size, "the tree size", "proof");
    if (m >= n) fail(`leaf index ${m} is not below the tree size ${n}`, "proof");
    const start = asBytes(leaf, "the leaf hash", "proof");
    if (start.length !== HASH_SIZE) {
      fail(`the leaf hash is ${start.length} bytes, not ${HASH_SIZE}`, "proof");
    }
    if (!Array.isArray(proof)) fail("the proof is not a list", "proof");
    const path = proof.map((p, i) => {
      const element = asBytes(p, `proof element ${i}`, "proof");
      if (element.length !== HASH_SIZE) {
        fail(`proof element ${i} is ${element.length} bytes, not ${HASH_SIZE}`, "proof");
      }
      return element;
    });
    let fn = m;
    let sn = n - 1n;
    let r = start;
    for (const p of path) {
      if (sn === 0n) fail("the proof is longer than the path from this leaf to the root", "proof");
      if ((fn & 1n) === 1n || fn === sn) {
        r = await nodeHash(p, r);
        if ((fn & 1n) === 0n) {
          while (!((fn & 1n) === 1n || fn === 0n)) {
            fn >>= 1n;
            sn >>= 1n;
          }
        }
      } else {
        r = await nodeHash(r, p);
      }
      fn >>= 1n;
      sn >>= 1n;
    }
    if (sn !== 0n) fail("the proof is shorter than the path from this leaf to the root", "proof");
    return r;
  }

  /** That the leaf with hash `leaf` is leaf `index` of the tree of `size` with `root`; the
   * size and root must come from one signed checkpoint (a path can have the same shape in
   * trees of several sizes). True, or a TransparencyError. */
  async function verifyInclusion(leaf, index, size, proof, root) {
    const expected = asBytes(root, "the root", "proof");
    if (!equal(await rootFromInclusion(leaf, index, size, proof), expected)) {
      fail("the proof leads to another root", "proof");
    }
    return true;
  }

  // --- Signed notes (c2sp.org/signed-note, as golang.org/x/mod/sumdb/note) ---

  /** A key name: non-empty, with no space of any kind and no '+'. */
  function validName(name) {
    return typeof name === "string" && name !== "" && !name.includes("+") && !SPACE.test(name);
  }

  async function keyId(name, alg, publicKey) {
    return (await sha256(concat(utf8(name), Uint8Array.of(0x0a, alg), publicKey))).slice(0, 4);
  }

  // name, stated id and key material of `<name>+<hex id>+<base64>`.
  function splitKey(vkey, step) {
    if (typeof vkey !== "string") fail("the key is not a string", step);
    const first = vkey.indexOf("+");
    const name = first < 0 ? vkey : vkey.slice(0, first);
    const rest = first < 0 ? "" : vkey.slice(first + 1);
    const second = rest.indexOf("+");
    const idHex = second < 0 ? rest : rest.slice(0, second);
    const material = second < 0 ? "" : rest.slice(second + 1);
    if (!/^[0-9a-fA-F]{8}$/.test(idHex)) fail("the key id is not 8 hex digits", step);
    const stated = Uint8Array.from(idHex.match(/../g), (b) => parseInt(b, 16));
    const raw = fromBase64(material, "the key", step);
    if (!validName(name)) fail("the key name is empty or has a space or '+'", step);
    return { name, stated, raw };
  }

  async function importEd25519(raw, step) {
    try {
      return await subtle().importKey("raw", raw, { name: "Ed25519" }, false, ["verify"]);
    } catch (error) {
      if (error instanceof TransparencyError) throw error;
      return fail("not an Ed25519 public key", step);
    }
  }

  async function ed25519(cryptoKey, signature, message) {
    if (signature.length !== 64) return false;
    return subtle().verify({ name: "Ed25519" }, cryptoKey, signature, message);
  }

  /** The note key of a verifier key string `<name>+<hex id>+<base64(0x01 ‖ public key)>`:
   * {name, keyId, keyString, verify(message, signature) → Promise<boolean>}. */
  async function parseVerifierKey(vkey) {
    const step = "keys";
    const { name, stated, raw } = splitKey(vkey, step);
    if (raw.length !== 33 || raw[0] !== ALG_ED25519) fail("not an Ed25519 verifier key", step);
    const publicKey = raw.slice(1);
    const cryptoKey = await importEd25519(publicKey, step);
    const id = await keyId(name, ALG_ED25519, publicKey);
    if (!equal(id, stated)) fail("the key id does not match the key", step);
    return Object.freeze({
      name,
      keyId: id,
      keyString: vkey,
      verify: (message, signature) => ed25519(cryptoKey, signature, message),
    });
  }

  /** A witness's cosignature key from a verifier key string of type 0x04, or of type 0x01
   * (the same Ed25519 key published as a note key): its lines carry the 0x04 key id and
   * 8-byte time ‖ signature. {name, keyId, keyString, verify(message, signature)}. */
  async function parseWitnessKey(vkey) {
    const step = "keys";
    const { name, stated, raw } = splitKey(vkey, step);
    if (raw.length !== 33 || (raw[0] !== ALG_COSIGNATURE_V1 && raw[0] !== ALG_ED25519)) {
      fail("not an Ed25519 cosignature or note key", step);
    }
    const publicKey = raw.slice(1);
    if (!equal(await keyId(name, raw[0], publicKey), stated)) {
      fail("the key id does not match the key", step);
    }
    const cryptoKey = await importEd25519(publicKey, step);
    return Object.freeze({
      name,
      keyId: await keyId(name, ALG_COSIGNATURE_V1, publicKey),
      keyString: vkey,
      verify: async (message, signature) => {
        if (signature.length !== 8 + 64) return false;
        const time = cosignatureTime(signature);
        if (time > MAX_TIME) return false;
        return ed25519(cryptoKey, signature.slice(8), cosignedMessage(message, time));
      },
    });
  }

  function cosignatureTime(signature) {
    let time = 0n;
    for (let i = 0; i < 8; i++) time = (time << 8n) | BigInt(signature[i]);
    return time;
  }

  function cosignedMessage(text, time) {
    return concat(utf8(`cosignature/v1\ntime ${time}\n`), text);
  }

  function checkText(text, step) {
    if (!text.endsWith("\n")) fail("the note text does not end in a newline", step);
    if (/[\x00-\x09\x0b-\x1f]/.test(text)) fail("the note has a control character", step);
    if (!text.isWellFormed()) fail("the note is not valid UTF-8", step);
  }

  function noteString(note, step) {
    if (typeof note === "string") return note;
    if (note instanceof Uint8Array || note instanceof ArrayBuffer) {
      try {
        return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(note);
      } catch {
        return fail("the note is not valid UTF-8", step);
      }
    }
    return fail("the note is not text", step);
  }

  /** The text of a note and its signature lines {name, keyId, signature}, checked for form
   * but not verified. */
  function splitNote(note, step = "checkpoint") {
    const whole = noteString(note, step);
    checkText(whole, step);
    const split = whole.lastIndexOf("\n\n");
    if (split < 0) fail("the note has no blank line before its signatures", step);
    const text = whole.slice(0, split + 1);
    const lines = whole.slice(split + 2).split("\n").slice(0, -1);
    if (lines.length === 0) fail("the note has no signature", step);
    if (lines.length > MAX_SIGNATURES) {
      fail(`the note has more than ${MAX_SIGNATURES} signatures`, step);
    }
    const signatures = lines.map((line) => {
      if (!line.startsWith(DASH)) {
        fail("a signature line does not begin with an em dash and a space", step);
      }
      const rest = line.slice(DASH.length);
      const space = rest.indexOf(" ");
      const name = space < 0 ? rest : rest.slice(0, space);
      if (space < 0 || !validName(name)) fail("a signature line has no valid key name", step);
      const raw = fromBase64(rest.slice(space + 1), "a signature", step);
      if (raw.length < 5) fail("a signature is too short", step);
      return Object.freeze({ name, keyId: raw.slice(0, 4), signature: raw.slice(4) });
    });
    return { text, signatures };
  }

  const sameKey = (signature, key) => signature.name === key.name && equal(signature.keyId, key.keyId);

  /** The text of `note` and the names of the known keys that signed it ({body, signers});
   * refused when it is malformed, when a known key's signature is bad, or when no known key
   * signed it. Signatures by unknown keys are ignored (that is how witnesses add theirs and
   * how a log rotates its key). `verifiers` are parsed keys or verifier key strings. */
  async function openNote(note, verifiers, step = "checkpoint") {
    const { text, signatures } = splitNote(note, step);
    const known = await Promise.all(
      verifiers.map((v) => (typeof v === "string" ? parseVerifierKey(v) : v)),
    );
    const message = utf8(text);
    const signers = [];
    for (const signature of signatures) {
      const candidates = known.filter((k) => sameKey(signature, k));
      if (candidates.length === 0) continue;
      const label = `${signature.name}+${hex(signature.keyId)}`;
      if (candidates.length > 1) fail(`ambiguous key ${label}`, step);
      if (!(await candidates[0].verify(message, signature.signature))) {
        fail(`invalid signature for key ${label}`, step);
      }
      if (!signers.includes(signature.name)) signers.push(signature.name);
    }
    if (signers.length === 0) fail("the note has no signature by a known key", step);
    return { body: text, signers };
  }

  // --- Checkpoints and cosignatures (c2sp.org/tlog-checkpoint, c2sp.org/tlog-cosignature) ---

  /** The checkpoint a note text states: {origin, size (BigInt), root (bytes), rootBase64,
   * extensions}; refused when it is not one. */
  function parseCheckpoint(body, step = "checkpoint") {
    if (typeof body !== "string" || !body.endsWith("\n")) {
      fail("the checkpoint does not end in a newline", step);
    }
    const lines = body.slice(0, -1).split("\n");
    if (lines.length < 3) fail("a checkpoint has at least three lines", step);
    const [origin, size, root, ...extensions] = lines;
    if (!origin) fail("the origin is empty or has a newline", step);
    if (!DECIMAL.test(size)) fail("the tree size is not a decimal without leading zeroes", step);
    const raw = fromBase64(root, "the root hash", step);
    if (toBase64(raw) !== root) fail("the root hash is not in canonical base64", step);
    if (BigInt(size) > MAX_SIZE) fail("the tree size does not fit in 64 bits", step);
    if (raw.length !== HASH_SIZE) fail(`the root is ${raw.length} bytes, not ${HASH_SIZE}`, step);
    if (extensions.some((line) => !line)) fail("an extension line is empty or has a newline", step);
    return Object.freeze({ origin, size: BigInt(size), root: raw, rootBase64: root, extensions });
  }

  /** The time (a Date, UTC) at which the witness with `witnessKey` (parsed, or a key string)
   * cosigned the checkpoint `note`; refused when it did not, or when a line under its key
   * does not verify. Several lines under the key: all must verify, the latest time counts. */
  async function verifyCosignature(note, witnessKey, step = "witness") {
    const witness = typeof witnessKey === "string" ? await parseWitnessKey(witnessKey) : witnessKey;
    const { text, signatures } = splitNote(note, step);
    parseCheckpoint(text, step);
    const mine = signatures.filter((s) => sameKey(s, witness));
    if (mine.length === 0) fail(`the checkpoint has no cosignature by ${witness.name}`, step);
    const message = utf8(text);
    let latest = -1n;
    for (const signature of mine) {
      if (!(await witness.verify(message, signature.signature))) {
        fail(`the cosignature by ${witness.name} does not verify`, step);
      }
      const time = cosignatureTime(signature.signature);
      if (time > latest) latest = time;
    }
    // Beyond ±8.64e15 ms a Date cannot hold the time (Python's datetime cannot either).
    const when = new Date(Number(latest) * 1000);
    if (Number.isNaN(when.getTime())) fail("the cosignature time is out of range", step);
    return when;
  }

  /** The page's one call: that the record `leafBase64` is leaf `index` of the tree of the
   * checkpoint `checkpointNote`, which the log key `logKey` signed and at least one of
   * `witnessKeys` cosigned (a bad line under any of them refuses it); `origin`, if given,
   * must be the checkpoint's. Never throws: {ok, size, root (base64), witnessedBy: [{name,
   * time}], reason, step}, where `reason` and `step` say what failed when not ok. */
  async function checkRecord({
    checkpointNote, logKey, witnessKeys, leafBase64, index, proofBase64, origin,
  } = {}) {
    const result = { ok: false, size: null, root: null, witnessedBy: [], reason: null, step: null };
    try {
      const log = await parseVerifierKey(logKey);
      if (!Array.isArray(witnessKeys) || witnessKeys.length === 0) {
        fail("no witness key is configured", "keys");
      }
      const witnesses = await Promise.all(witnessKeys.map((k) => parseWitnessKey(k)));
      const opened = await openNote(checkpointNote, [log], "checkpoint");
      const checkpoint = parseCheckpoint(opened.body, "checkpoint");
      if (origin !== undefined && origin !== null && checkpoint.origin !== origin) {
        fail(`the checkpoint is for another log: ${checkpoint.origin}`, "checkpoint");
      }
      result.size = checkpoint.size;
      result.root = checkpoint.rootBase64;
      const { signatures } = splitNote(checkpointNote, "witness");
      const witnessedBy = [];
      for (const witness of witnesses) {
        if (!signatures.some((s) => sameKey(s, witness))) continue;
        witnessedBy.push({
          name: witness.name,
          time: await verifyCosignature(checkpointNote, witness, "witness"),
        });
      }
      if (witnessedBy.length === 0) {
        fail("the checkpoint has no cosignature by a configured witness", "witness");
      }
      result.witnessedBy = witnessedBy;
      const leaf = fromBase64(leafBase64, "the record", "proof");
      if (!Array.isArray(proofBase64)) fail("the proof is not a list", "proof");
      const proof = proofBase64.map((p, i) => fromBase64(p, `proof element ${i}`, "proof"));
      await verifyInclusion(await leafHash(leaf), index, checkpoint.size, proof, checkpoint.root);
      result.ok = true;
    } catch (error) {
      result.ok = false;
      result.reason = error instanceof TransparencyError ? error.reason : `unexpected: ${error}`;
      result.step = error instanceof TransparencyError ? error.step : "setup";
    }
    return result;
  }

  global.OnshiTransparency = Object.freeze({
    HASH_SIZE,
    TransparencyError,
    fromBase64,
    toBase64,
    leafHash,
    nodeHash,
    rootFromInclusion,
    verifyInclusion,
    validName,
    parseVerifierKey,
    parseWitnessKey,
    splitNote,
    openNote,
    parseCheckpoint,
    verifyCosignature,
    checkRecord,
  });
})(globalThis);
