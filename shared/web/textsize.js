// The reader's text size (适老化): three steps, kept in this browser (localStorage, per site), applied
// to the root element so that every rem-sized rule of the page grows with it. Loaded in <head>
// without defer, so a page never flashes at the standard size first; a file, not inline, because
// the pages' Content-Security-Policy runs no inline script.
"use strict";
(() => {
  const KEY = "gongkai-text-size";
  const SIZES = { standard: "100%", large: "125%", larger: "150%" };
  const stored = () => {
    try { return localStorage.getItem(KEY); } catch { return null; }  // storage may be refused
  };
  const apply = (size) => {
    const chosen = SIZES[size] ? size : "standard";
    document.documentElement.style.fontSize = SIZES[chosen];
    document.documentElement.dataset.textSize = chosen;
    for (const button of document.querySelectorAll("[data-text-size-choice]")) {
      button.setAttribute("aria-pressed", String(button.dataset.textSizeChoice === chosen));
    }
    return chosen;
  };
  apply(stored());
  document.addEventListener("DOMContentLoaded", () => {
    apply(stored());
    for (const button of document.querySelectorAll("[data-text-size-choice]")) {
      button.addEventListener("click", () => {
        const chosen = apply(button.dataset.textSizeChoice);
        try { localStorage.setItem(KEY, chosen); } catch { /* kept for this page only */ }
      });
    }
  });
})();
