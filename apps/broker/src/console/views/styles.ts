/** The console's one stylesheet (served as /console/assets/console.css). */
export const CONSOLE_CSS = `
:root { --ink:#1d2733; --muted:#5b6777; --line:#e3e8ef; --brand:#5a3fc0; --ok:#1f8a4c; --bad:#b42318; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; color:var(--ink); background:#f6f7fb; }
header.top { display:flex; gap:24px; align-items:center; padding:10px 24px; background:#fff; border-bottom:1px solid var(--line); }
.brand { font-weight:700; }
nav a { margin-right:16px; color:var(--ink); text-decoration:none; }
nav a[aria-current] { color:var(--brand); font-weight:600; }
.who { margin-left:auto; display:flex; gap:12px; align-items:center; color:var(--muted); }
main { padding:16px 24px 48px; }
main.narrow { max-width:560px; margin:64px auto; }
h1 { font-size:20px; margin:8px 0 16px; }
h2 { font-size:16px; margin:24px 0 8px; }
.cards { display:flex; gap:16px; flex-wrap:wrap; }
.card { background:#fff; border:1px solid var(--line); border-radius:10px; padding:12px 16px; min-width:180px; }
.card .n { font-size:24px; font-weight:700; }
table { border-collapse:collapse; background:#fff; width:100%; }
th,td { text-align:left; padding:6px 8px; border-bottom:1px solid var(--line); vertical-align:top; }
th { background:#f2f4f7; font-weight:600; }
td.num { text-align:right; font-variant-numeric:tabular-nums; }
.ok { color:var(--ok); } .bad { color:var(--bad); }
form.filters { display:flex; flex-wrap:wrap; gap:8px; align-items:end; background:#fff; padding:12px; border:1px solid var(--line); border-radius:10px; }
form.filters label { display:flex; flex-direction:column; font-size:12px; color:var(--muted); }
input,select,button { font:inherit; padding:4px 8px; }
button,a.button { background:var(--brand); color:#fff; border:0; border-radius:6px; padding:6px 12px; text-decoration:none; cursor:pointer; }
button.danger { background:var(--bad); }
pre { white-space:pre-wrap; word-break:break-all; background:#f2f4f7; padding:8px; border-radius:6px; margin:4px 0; }
svg.chart, .uplot-chart { background:#fff; border:1px solid var(--line); border-radius:10px; width:100%; height:auto; }
.legend span { margin-right:12px; } .swatch { display:inline-block; width:10px; height:10px; margin-right:4px; }
.pager { margin:12px 0; display:flex; gap:12px; }
.muted { color:var(--muted); }
/* With JavaScript, charts.js swaps the server-drawn SVG for a uPlot canvas (hover values, legend). */
.uplot-chart { padding:8px 0; }
.uplot-chart .u-legend { font-size:12px; }
`;
