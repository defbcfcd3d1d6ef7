// Grouped bar charts as plain SVG (no dependencies), for the benches' results next to their tables: panels in a
// grid of two columns, each panel a row of groups, each group one bar per series, every bar labelled with its value.

/**
 * @param {{
 *   title: string,
 *   series: { key: string, label: string, color: string }[],
 *   panels: { title: string, groups: { label: string, bold?: boolean, values: Record<string, number> }[], fmt: (v: number) => string, max?: number }[],
 *   footer: string,
 * }} chart
 */
export function renderBarPanels({ title, series, panels, footer }) {
  const W = 1000, panelW = 480, panelH = 230, plotH = 170, left = 16, top = 48, gap = 24;
  const H = top + Math.ceil(panels.length / 2) * panelH + 30;
  const esc = (t) => String(t).replace(/&/g, "&amp;").replace(/</g, "&lt;");
  const out = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${left}" y="20" font-size="15" font-weight="bold">${esc(title)}</text>`);
  let legendX = left;
  for (const s of series) {
    out.push(`<rect x="${legendX}" y="29" width="11" height="11" fill="${s.color}"/><text x="${legendX + 16}" y="39">${esc(s.label)}</text>`);
    legendX += 30 + 7 * s.label.length;
  }
  panels.forEach((panel, k) => {
    const x0 = left + (k % 2) * (panelW + gap);
    const y0 = top + Math.floor(k / 2) * panelH;
    const values = panel.groups.flatMap((g) => series.map((s) => g.values[s.key])).filter(Number.isFinite);
    const max = panel.max ?? Math.max(1e-9, ...values) * 1.15;
    out.push(`<text x="${x0}" y="${y0 + 14}" font-weight="bold">${esc(panel.title)}</text>`);
    const baseY = y0 + 24 + plotH;
    out.push(`<line x1="${x0}" y1="${baseY}" x2="${x0 + panelW}" y2="${baseY}" stroke="#999"/>`);
    const groupW = panelW / panel.groups.length;
    panel.groups.forEach((group, g) => {
      const gx = x0 + g * groupW;
      const bw = (groupW - 20 - 4 * (series.length - 1)) / series.length;
      series.forEach((s, j) => {
        const v = group.values[s.key];
        if (v === undefined) return;
        const h = Number.isFinite(v) ? Math.max(0, (v / max) * plotH) : 0;
        const bx = gx + 10 + j * (bw + 4);
        const text = Number.isFinite(v) ? panel.fmt(v) : "–";
        out.push(`<rect x="${bx.toFixed(1)}" y="${(baseY - h).toFixed(1)}" width="${bw.toFixed(1)}" height="${h.toFixed(1)}" fill="${s.color}"><title>${esc(`${group.label}, ${s.label}: ${text}`)}</title></rect>`);
        out.push(`<text x="${(bx + bw / 2).toFixed(1)}" y="${(baseY - h - 4).toFixed(1)}" text-anchor="middle" font-size="10">${esc(text)}</text>`);
      });
      out.push(`<text x="${(gx + groupW / 2).toFixed(1)}" y="${baseY + 16}" text-anchor="middle"${group.bold ? ' font-weight="bold"' : ""}>${esc(group.label)}</text>`);
    });
  });
  out.push(`<text x="${left}" y="${H - 8}" fill="#555" font-size="11">${esc(footer)}</text>`);
  out.push("</svg>");
  return out.join("\n") + "\n";
}
