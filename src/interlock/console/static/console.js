// Progressive enhancement only: every page works without this script.
"use strict";

// The approvals queue refreshes itself, unless the reviewer is typing in it.
function refreshQueue(box) {
  const seconds = Math.max(1, Number(box.dataset.seconds) || 5);
  setInterval(async () => {
    if (box.contains(document.activeElement) && document.activeElement !== document.body) return;
    try {
      const answer = await fetch(box.dataset.refresh, { credentials: "same-origin", headers: { "accept": "text/html" } });
      if (answer.redirected || !answer.ok) return;
      const html = await answer.text();
      if (html !== box.dataset.last) {
        box.dataset.last = html;
        box.innerHTML = html;
      }
    } catch (_) { /* offline for a moment: the next tick tries again */ }
  }, seconds * 1000);
}

// A form that asks before it acts (revoking a key).
function confirmBeforeSubmit(form) {
  form.addEventListener("submit", (event) => {
    if (!window.confirm(form.dataset.confirm)) event.preventDefault();
  });
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-refresh]").forEach(refreshQueue);
  document.querySelectorAll("form[data-confirm]").forEach(confirmBeforeSubmit);
});

// Checking a record's proof bundle in the browser, with nothing but Web Crypto: the leaf hash of the
// record, its RFC 9162 inclusion path up to the checkpoint's root, and the checkpoint's Ed25519
// signature under the audit key the page names (not the key the bundle names).
const b64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

async function sha256(...parts) {
  const size = parts.reduce((n, p) => n + p.length, 0);
  const all = new Uint8Array(size);
  let at = 0;
  for (const p of parts) { all.set(p, at); at += p.length; }
  return new Uint8Array(await crypto.subtle.digest("SHA-256", all));
}

async function rootFromInclusion(leaf, index, size, proof) {
  if (index < 0 || index >= size) throw new Error("the record's index is outside the checkpoint");
  let fn = index, sn = size - 1, r = await sha256(Uint8Array.of(0), leaf);
  for (const p of proof) {
    if (sn === 0) throw new Error("the inclusion proof is longer than the tree allows");
    if (fn % 2 === 1 || fn === sn) {
      r = await sha256(Uint8Array.of(1), p, r);
      while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
    } else {
      r = await sha256(Uint8Array.of(1), r, p);
    }
    fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
  }
  if (sn !== 0) throw new Error("the inclusion proof is shorter than the tree needs");
  return r;
}

async function checkBundle(bundle, trustedKey, requestId) {
  const record = JSON.parse(bundle.record);
  if (record.request_id !== requestId) throw new Error("the bundle is for another record");
  const note = bundle.checkpoint;
  const split = note.indexOf("\n\n");
  const body = note.slice(0, split + 1);
  const [name, size, root] = body.split("\n");
  if (Number(size) !== bundle.tree_size) throw new Error("the bundle's tree size is not the checkpoint's");
  const computed = await rootFromInclusion(new TextEncoder().encode(bundle.record), bundle.leaf_index,
                                           bundle.tree_size, bundle.inclusion_proof.map(b64));
  if (hex(computed) !== hex(b64(root))) throw new Error("the record's path does not lead to the signed root");
  // <name>+<key hash, 8 hex>+<base64 key>: the name has no "+", but the base64 may.
  const at = trustedKey.indexOf("+");
  const keyName = trustedKey.slice(0, at);
  const keyHash = trustedKey.slice(at + 1, at + 9);
  const keyData = trustedKey.slice(at + 10);
  const sigLine = note.slice(split + 2).split("\n").find((l) => l.startsWith("\u2014 " + keyName + " "));
  if (name !== keyName || !sigLine) throw new Error("the checkpoint is not signed by the gateway's audit key");
  const sig = b64(sigLine.slice(keyName.length + 3));
  if (hex(sig.slice(0, 4)) !== keyHash) throw new Error("the checkpoint is signed by another key");
  const key = await crypto.subtle.importKey("raw", b64(keyData).slice(1), { name: "Ed25519" }, false, ["verify"]);
  const ok = await crypto.subtle.verify({ name: "Ed25519" }, key, sig.slice(4), new TextEncoder().encode(body));
  if (!ok) throw new Error("the checkpoint's signature does not verify");
  return `Verified in this browser: entry ${bundle.leaf_index} is in the log at tree size ${bundle.tree_size}, `
    + `whose root ${hex(computed).slice(0, 16)}… is signed by the gateway's audit key.`;
}

function browserCheck(box) {
  box.hidden = false;
  const out = box.querySelector("#browser-verdict");
  box.querySelector("#browser-verify").addEventListener("click", async () => {
    out.className = "";
    out.textContent = "Checking…";
    try {
      const answer = await fetch(box.dataset.proof, { credentials: "same-origin" });
      if (!answer.ok) throw new Error(`the gateway gave no proof (${answer.status})`);
      out.textContent = await checkBundle(await answer.json(), box.dataset.key, box.dataset.requestId);
      out.className = "verified";
    } catch (err) {
      out.textContent = `Not verified: ${err.message.replace(/\.$/, "")}.`;
      out.className = "problem";
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("#browser-check").forEach(browserCheck);
});
