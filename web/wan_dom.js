// Wan Compat: small DOM helpers shared by the pack's extensions (no extension of its own: the
// frontend loads every file of the web folder; this one only exports).
// Text is always set as text, never parsed as HTML; only https links become links.
const URL_PATTERN = /(https:\/\/[^\s<>"')]+[^\s<>"').,;:])/g;

export function element(tag, style, text) {
  const el = document.createElement(tag);
  if (style) el.style.cssText = style;
  if (text !== undefined) el.textContent = text;
  return el;
}

// Text with every https link as a link that opens in a new tab (other text stays text).
export function linkified(text, style = "") {
  const out = element("span", style);
  const value = String(text ?? "");
  let last = 0;
  for (const found of value.matchAll(URL_PATTERN)) {
    out.append(value.slice(last, found.index));
    const link = element("a", "color:#93c5fd;overflow-wrap:anywhere", found[0]);
    Object.assign(link, { href: found[0], target: "_blank", rel: "noopener noreferrer" });
    out.append(link);
    last = found.index + found[0].length;
  }
  out.append(value.slice(last));
  return out;
}
