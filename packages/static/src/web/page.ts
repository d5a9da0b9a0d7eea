/** The page's HTML and CSS (no framework: one form, one result, works from 320 px wide up). */
export function toPageHtml(title: string): string {
	return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>
  :root { color-scheme: light; --ink: #1d2433; --muted: #5b6477; --line: #dfe3ea; --accent: #1f6feb; --bg: #f5f7fb; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 16px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); background: var(--bg); }
  main { max-width: 980px; margin: 0 auto; padding: 24px 16px 40px; }
  h1 { font-size: 1.6rem; margin: 0 0 4px; }
  .sub { color: var(--muted); margin: 0 0 20px; }
  .grid { display: grid; grid-template-columns: 1.2fr 1fr; gap: 20px; align-items: start; }
  @media (max-width: 720px) { .grid { grid-template-columns: 1fr; } }
  .card { background: #fff; border: 1px solid var(--line); border-radius: 12px; padding: 20px; box-shadow: 0 1px 2px rgba(16,24,40,.04); }
  #fields { display: grid; grid-template-columns: 1fr 1fr; gap: 14px; }
  @media (max-width: 480px) { #fields { grid-template-columns: 1fr; } }
  .field { display: flex; flex-direction: column; gap: 4px; font-size: .9rem; color: var(--muted); }
  .field abbr { color: #c0392b; text-decoration: none; }
  input, select { font: inherit; color: var(--ink); padding: 9px 10px; border: 1px solid var(--line); border-radius: 8px; background: #fff; width: 100%; }
  input:focus, select:focus { outline: 2px solid var(--accent); outline-offset: 1px; }
  .error { color: #c0392b; min-height: 1em; }
  button { margin-top: 16px; width: 100%; font: inherit; font-weight: 600; color: #fff; background: var(--accent); border: 0; border-radius: 8px; padding: 11px; cursor: pointer; }
  button:disabled { background: #9bb7e8; cursor: wait; }
  #label { font-size: 2rem; font-weight: 700; margin: 4px 0 14px; }
  .bar { display: grid; grid-template-columns: 90px 1fr 64px; gap: 10px; align-items: center; margin: 8px 0; font-size: .95rem; }
  .track { height: 12px; background: #edf0f5; border-radius: 6px; overflow: hidden; }
  .fill { display: block; height: 100%; background: #9db4d8; }
  .top .fill { background: var(--accent); }
  .pct { text-align: right; font-variant-numeric: tabular-nums; color: var(--muted); }
  #status, #model { color: var(--muted); font-size: .85rem; }
  .placeholder { color: var(--muted); }
</style>
</head>
<body>
<main>
  <h1>${escapeHtml(title)}</h1>
  <p class="sub">Enter the measurements; the species is predicted by an ONNX model running in this page (WebAssembly).</p>
  <div class="grid">
    <form id="form" class="card" novalidate>
      <div id="fields"><p class="placeholder">Loading the model…</p></div>
      <button id="predict" type="submit" disabled>Predict</button>
    </form>
    <section class="card" aria-live="polite">
      <div id="result" hidden>
        <div class="placeholder">Predicted</div>
        <div id="label"></div>
        <div id="bars"></div>
      </div>
      <p id="status">Loading the model…</p>
      <p id="model"></p>
    </section>
  </div>
</main>
<script type="module" src="./app.js"></script>
</body>
</html>
`;
}

function escapeHtml(text: string): string {
	return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
