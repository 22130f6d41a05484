// scimgate console: the only script (no inline script anywhere; the pages work without it).
// - An input with data-derive-id="<field id>" fills that field with the Id derived from it,
//   by the API's rule (SCIM Provisioner (Okta) -> SCIM_Provisioner_Okta), until the user edits
//   the field by hand.
// - A button with data-copy="<element id>" copies that element's text.
"use strict";

function deriveId(name) {
  let s = "";
  for (const ch of name.trim().normalize("NFD").replace(/[\u0300-\u036f]/g, "")) {
    const c = ch === "." || ch === "-" ? "_" : ch;
    if (/^[A-Za-z0-9_$ ]$/.test(c)) s += c;
  }
  return s.replace(/ +/g, "_").replace(/^[0-9$]+/, "").slice(0, 128);
}

document.addEventListener("DOMContentLoaded", () => {
  for (const input of document.querySelectorAll("[data-derive-id]")) {
    const target = document.getElementById(input.dataset.deriveId);
    if (!target) continue;
    let edited = target.value !== "" && target.value !== deriveId(input.value);
    target.addEventListener("input", () => { edited = true; });
    input.addEventListener("input", () => { if (!edited) target.value = deriveId(input.value); });
  }
  for (const button of document.querySelectorAll("[data-copy]")) {
    button.addEventListener("click", async () => {
      const el = document.getElementById(button.dataset.copy);
      if (!el) return;
      try {
        await navigator.clipboard.writeText(el.textContent.trim());
        button.textContent = "Copied";
      } catch (_) {
        const range = document.createRange();
        range.selectNodeContents(el);
        const sel = window.getSelection();
        sel.removeAllRanges();
        sel.addRange(range);
        button.textContent = "Selected: press Ctrl+C";
      }
    });
  }
});
