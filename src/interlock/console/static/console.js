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
