// The console's charts with uPlot (served from /console/assets/uplot.min.js). Each element with a
// data-uplot attribute holds the server-drawn SVG (the no-JavaScript view) and a JSON data block
//   {"x":[unix seconds…],"series":[{"label":…,"colour":…,"values":[…]}…],"step":3600,"height":220}
// which this script draws as stacked bars on a canvas, replacing the SVG. No inline script or
// style is needed, so the console's CSP stays strict. Once drawn, the container carries
// data-drawn="uplot" and data-drawn-total (the sum of the drawn stacks), for tests and checks.
(function () {
  'use strict';

  function stack(series) {
    // Cumulative sums, so that drawing the tallest stack first and each lower one over it shows
    // stacked bars; the legend shows each series' own value.
    var out = [];
    var acc = null;
    series.forEach(function (s) {
      acc = s.values.map(function (v, i) {
        return (acc ? acc[i] : 0) + v;
      });
      out.push(acc);
    });
    return out;
  }

  function draw(box) {
    var block = box.querySelector('script[type="application/json"]');
    if (!block || typeof window.uPlot !== 'function') return;
    var data = JSON.parse(block.textContent);
    var uPlot = window.uPlot;
    var cumulative = stack(data.series);
    var order = data.series.map(function (_, i) {
      return data.series.length - 1 - i;
    });
    var step = data.step || 3600;
    // Axis labels in UTC, 24-hour: the day at midnight (and for daily charts), else the hour.
    var utcLabels = function (u, splits) {
      return splits.map(function (ts) {
        var iso = new Date(ts * 1000).toISOString();
        return step >= 86400 || iso.slice(11, 13) === '00' ? iso.slice(5, 10) : iso.slice(11, 16);
      });
    };
    var bars = uPlot.paths.bars({ size: [0.9, 40], align: 1 });
    var target = document.createElement('div');
    target.className = 'uplot-chart';
    var width = Math.max(320, box.clientWidth || 960);
    var opts = {
      width: width,
      height: data.height || 220,
      tzDate: function (ts) {
        return uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC');
      },
      cursor: { drag: { x: false, y: false } },
      scales: {
        // One step more than the last bar's start, so the last bar (the current hour) is drawn.
        x: {
          time: true,
          range: function (u, min, max) {
            return [min, max + step];
          },
        },
        y: { range: [0, null] },
      },
      axes: [{ values: utcLabels }, { size: 48 }],
      series: [{ label: 'UTC' }].concat(
        order.map(function (k) {
          var s = data.series[k];
          return {
            label: s.label,
            stroke: s.colour,
            fill: s.colour,
            width: 0,
            paths: bars,
            points: { show: false },
            value: function (u, v, si, idx) {
              return idx === null || idx === undefined ? '–' : String(s.values[idx]);
            },
          };
        }),
      ),
    };
    var columns = [data.x].concat(
      order.map(function (k) {
        return cumulative[k];
      }),
    );
    box.querySelectorAll('svg.chart, .legend').forEach(function (el) {
      el.remove();
    });
    box.appendChild(target);
    var chart = new uPlot(opts, columns, target);
    // The tallest stack (the chart's first drawn series) sums every series of every bar.
    var total = 0;
    (chart.data[1] || []).forEach(function (v) {
      total += v || 0;
    });
    box.setAttribute('data-drawn', 'uplot');
    box.setAttribute('data-drawn-total', String(total));
    window.addEventListener('resize', function () {
      chart.setSize({ width: Math.max(320, box.clientWidth || width), height: opts.height });
    });
  }

  function start() {
    document.querySelectorAll('[data-uplot]').forEach(draw);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
