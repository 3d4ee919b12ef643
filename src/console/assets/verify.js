// Checks, in the browser and with WebCrypto alone, that an event is in Baomi's audit trail:
// 1. its leaf hash is SHA-256(0x00 || the event body as stored);
// 2. the inclusion proof leads from that leaf to the root stated in the signed checkpoint
//    (RFC 9162, section 2.1.3.2);
// 3. the checkpoint's Ed25519 signature verifies under a verifier key pinned in the
//    configuration, or else under the server's own (where the browser has Ed25519 in
//    WebCrypto; otherwise it says so);
// 4. the page says which of the two it was.
"use strict";
(async () => {
  const data = JSON.parse(document.getElementById("proof-data").textContent);
  const text = data.text;
  const mark = (id, status, detail) => {
    const el = document.getElementById(id);
    el.dataset.status = status;
    el.querySelector(".status").textContent = text[status] + (detail ? " (" + detail + ")" : "");
  };
  const b64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
  const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  const equal = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
  const sha256 = async (...parts) => {
    const total = parts.reduce((n, p) => n + p.length, 0);
    const buf = new Uint8Array(total);
    let at = 0;
    for (const p of parts) { buf.set(p, at); at += p.length; }
    return new Uint8Array(await crypto.subtle.digest("SHA-256", buf));
  };
  const results = [];

  // 1. The leaf.
  let leaf = b64(data.leaf_hash);
  if (data.body === null) {
    mark("check-leaf", "unsupported", "pruned");
  } else {
    const computed = await sha256(new Uint8Array([0]), new TextEncoder().encode(data.body));
    const ok = equal(computed, leaf);
    mark("check-leaf", ok ? "ok" : "fail", hex(computed).slice(0, 16) + "…");
    results.push(ok);
    leaf = computed;
  }

  // 2. The path to the root (RFC 9162 2.1.3.2).
  const lines = data.note.split("\n");
  const stated = b64(lines[2]);
  let fn = data.leaf_index, sn = data.tree_size - 1, r = leaf, pathOk = true;
  for (const p of data.proof.map(b64)) {
    if (sn === 0) { pathOk = false; break; }
    if (fn % 2 === 1 || fn === sn) {
      r = await sha256(new Uint8Array([1]), p, r);
      if (fn % 2 === 0) { while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); } }
    } else {
      r = await sha256(new Uint8Array([1]), r, p);
    }
    fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
  }
  const rootOk = pathOk && sn === 0 && Number(lines[1]) === data.tree_size && equal(r, stated);
  mark("check-root", rootOk ? "ok" : "fail", hex(r).slice(0, 16) + "…");
  results.push(rootOk);

  // 3. The checkpoint's Ed25519 signature, under one of the keys the page names: those
  //    pinned in the configuration (any of them, as across a rotation), or else the
  //    server's own.
  const eds = data.verifier_keys.filter((k) => k.algorithm === "ed25519");
  if (eds.length === 0) {
    mark("check-signature", "unsupported", "SM2");
  } else {
    const body = new TextEncoder().encode(data.note.split("\n\n")[0] + "\n");
    const signedBy = async (verifierKey) => {
      // <name>+<key id>+<base64 key>; the base64 may itself hold '+'.
      const first = verifierKey.indexOf("+"), second = verifierKey.indexOf("+", first + 1);
      const name = verifierKey.slice(0, first), keyId = verifierKey.slice(first + 1, second);
      const key = b64(verifierKey.slice(second + 1)).slice(1);
      const line = data.note.split("\n").find((l) => l.startsWith("\u2014 " + name + " ") &&
        b64(l.split(" ")[2]).length === 68 && hex(b64(l.split(" ")[2]).slice(0, 4)) === keyId);
      if (!line) return false;
      const pub = await crypto.subtle.importKey("raw", key, { name: "Ed25519" }, false, ["verify"]);
      return crypto.subtle.verify({ name: "Ed25519" }, pub, b64(line.split(" ")[2]).slice(4), body);
    };
    try {
      let ok = false;
      for (const k of eds) { if (await signedBy(k.key)) { ok = true; break; } }
      mark("check-signature", ok ? "ok" : "fail");
      results.push(ok);
    } catch (e) {
      // Only a browser without Ed25519 is "unsupported"; anything else is a failure.
      const unsupported = e.name === "NotSupportedError";
      mark("check-signature", unsupported ? "unsupported" : "fail", e.name);
      if (!unsupported) results.push(false);
    }
  }

  // 4. Where the keys came from: pinned in the configuration, or the server's word.
  const pinned = document.getElementById("check-pinned");
  pinned.dataset.status = data.pinned ? "ok" : "unpinned";
  pinned.querySelector(".status").textContent = data.pinned ? text.pinned : text.unpinned;

  const verdict = document.getElementById("verdict");
  const ok = results.length > 0 && results.every(Boolean);
  verdict.dataset.status = ok ? "ok" : "fail";
  const en = document.documentElement.lang === "en";
  verdict.textContent = !ok
    ? (en ? "✗ Verification FAILED." : "✗ 验证失败。")
    : data.pinned
      ? (en ? "✓ Verified in this browser: the event is in the trail signed by a pinned key." : "✓ 已在本浏览器中验证：该事件在以固定密钥签名的审计链中。")
      : (en ? "✓ Verified in this browser, against the server's own key (not pinned): the event is in the signed trail." : "✓ 已在本浏览器中验证（使用本服务器自身的密钥，未固定）：该事件在已签名的审计链中。");
})();
