// VRS hub dashboard. Draws each figure of the regional picture as SVG and
// keeps figures, nodes and runs fresh by polling the hub's JSON endpoints.
//
// Plain JavaScript, no build step and no library: the hub runs air-gapped
// and its operators should be able to read what their browser executes.
// The page works without this script (the server renders every table); the
// script adds the charts and the live updates. It never sets inline styles,
// so the Content-Security-Policy can forbid them.
(function () {
  'use strict';

  var SVGNS = 'http://www.w3.org/2000/svg';
  var PALETTE = ['#1f5f8b', '#c2571a', '#2e7d4f', '#7b3fa0', '#8a6d00', '#a12a4a', '#3d6e70', '#5c5c99'];
  var W = 640; // viewBox width of every chart; the SVG scales to its box

  var body = document.body;
  var pollMs = Math.max(1, Number(body.dataset.pollSeconds) || 5) * 1000;
  var certWarnMs = (Number(body.dataset.certWarningSeconds) || 30 * 86400) * 1000;
  var labels = { countries: {}, iccs: {}, measures: {}, dimensions: {} };
  var last = { picture: null, nodes: null, runs: null };
  var runStates = {};

  // ---- small DOM helpers ----------------------------------------------

  function h(tag, attrs) {
    var e = document.createElement(tag);
    setAttrs(e, attrs);
    appendKids(e, Array.prototype.slice.call(arguments, 2));
    return e;
  }

  function s(tag, attrs) {
    var e = document.createElementNS(SVGNS, tag);
    setAttrs(e, attrs);
    appendKids(e, Array.prototype.slice.call(arguments, 2));
    return e;
  }

  function setAttrs(e, attrs) {
    if (!attrs) return;
    Object.keys(attrs).forEach(function (k) {
      var v = attrs[k];
      if (v === undefined || v === null || v === false) return;
      e.setAttribute(k, v === true ? '' : String(v));
    });
  }

  function appendKids(e, kids) {
    kids.forEach(function (k) {
      if (k === undefined || k === null || k === false) return;
      if (Array.isArray(k)) { appendKids(e, k); return; }
      e.append(k instanceof Node ? k : document.createTextNode(String(k)));
    });
  }

  function safeId(s) { return String(s).replace(/[^A-Za-z0-9_-]/g, '_'); }

  // ---- words for codes --------------------------------------------------

  function num(n) { return Number(n).toLocaleString('en-US'); }

  function countryName(code) { return labels.countries[code] || code; }

  var MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

  // keyLabel spells a cell key for people; short is for chart axes.
  function keyLabel(dim, k, short) {
    if (dim === 'citizenship' || dim.indexOf('route.') === 0) {
      if (labels.countries[k]) return short ? labels.countries[k] : labels.countries[k] + ' (' + k + ')';
    } else if (dim === 'iccs') {
      if (labels.iccs[k]) return short ? labels.iccs[k] : labels.iccs[k] + ' (' + k + ')';
    } else if (dim === 'period.month') {
      var m = /^(\d{4})-(\d{2})$/.exec(k);
      if (m && short) return MONTHS[Number(m[2]) - 1] + ' ' + m[1];
      return k;
    } else if (dim.indexOf('period.') === 0) {
      return k;
    }
    if (/[A-Z]/.test(k) && k === k.toUpperCase()) {
      var w = k.replace(/_/g, ' ').toLowerCase();
      return w.charAt(0).toUpperCase() + w.slice(1);
    }
    if (k === 'unknown' || k === 'none') return k.charAt(0).toUpperCase() + k.slice(1);
    return k;
  }

  function measureTitle(id) { return labels.measures[id] || id; }
  function dimTitle(id) { return labels.dimensions[id] || id; }

  function cellStatus(st) {
    switch (st) {
      case 'CELL_STATUS_ROUNDED': return 'rounded';
      case 'CELL_STATUS_SUPPRESSED': return 'suppressed';
      case 'CELL_STATUS_SUPPRESSED_SECONDARY': return 'secondary';
      default: return 'exact';
    }
  }
  function isSuppressed(c) { return c.status === 'suppressed' || c.status === 'secondary'; }

  var STATE_WORDS = {
    STATE_STATUS_PENDING: ['pending', 'pending'],
    STATE_STATUS_ANSWERED: ['answered', 'ok'],
    STATE_STATUS_REFUSED: ['refused', 'warn'],
    STATE_STATUS_FAILED: ['failed', 'bad'],
    STATE_STATUS_TIMED_OUT: ['timed out', 'warn'],
    STATE_STATUS_OFFLINE: ['offline', 'warn']
  };
  function stateWord(st) { return (STATE_WORDS[st] || ['unknown', 'bad'])[0]; }
  function stateClass(st) { return (STATE_WORDS[st] || ['unknown', 'bad'])[1]; }

  function period(q) {
    var from = q.periodFrom || '', to = q.periodTo || '';
    if (!from && !to) return 'all dates';
    if (!from) return 'up to ' + to;
    if (!to) return 'from ' + from;
    return from + ' to ' + to;
  }

  function fmtTime(ts) {
    if (!ts) return '';
    var d = new Date(ts);
    if (isNaN(d)) return ts;
    return d.toISOString().slice(0, 16).replace('T', ' ') + ' UTC';
  }

  function ago(ts) {
    var ms = Date.now() - new Date(ts).getTime();
    if (ms < 0) return fmtTime(ts);
    if (ms < 60e3) return 'just now';
    if (ms < 3600e3) return Math.floor(ms / 60e3) + ' min ago';
    if (ms < 48 * 3600e3) return Math.floor(ms / 3600e3) + ' h ago';
    return Math.floor(ms / 86400e3) + ' days ago';
  }

  function kindOf(g) {
    if (g.length === 0) return 'total';
    if (g.length === 1 && g[0].indexOf('period.') === 0) return 'line';
    if (g.length === 1 && g[0] === 'transport_mode') return 'donut';
    if (g.length === 2 && g[0] === 'route.origin' && g[1] === 'route.destination') return 'flow';
    return 'bars';
  }

  // niceMax rounds a maximum up to 1, 2 or 5 times a power of ten, so
  // axis ticks fall on round numbers.
  function niceMax(v) {
    if (v <= 0) return 1;
    var p = Math.pow(10, Math.floor(Math.log10(v)));
    var m = v / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
  }

  function truncate(t, n) { return t.length > n ? t.slice(0, n - 1) + '…' : t; }

  // ---- charts ---------------------------------------------------------

  // chartSvg opens an accessible SVG: a title and a description that says
  // in words what the picture shows; the data table below has every number.
  function chartSvg(id, height, title, desc) {
    var svg = s('svg', {
      viewBox: '0 0 ' + W + ' ' + height, width: '100%', role: 'img', class: 'chart-svg',
      'aria-labelledby': id + '-t ' + id + '-d', preserveAspectRatio: 'xMinYMin meet'
    },
    s('title', { id: id + '-t' }, title),
    s('desc', { id: id + '-d' }, desc),
    s('defs', null,
      s('pattern', { id: id + '-hatch', width: 6, height: 6, patternUnits: 'userSpaceOnUse', patternTransform: 'rotate(45)' },
        s('rect', { width: 6, height: 6, fill: '#eef0f3' }),
        s('line', { x1: 0, y1: 0, x2: 0, y2: 6, stroke: '#5b6470', 'stroke-width': 2 }))));
    return svg;
  }

  function describe(cells, label) {
    var shown = cells.filter(function (c) { return !isSuppressed(c); });
    var supp = cells.length - shown.length;
    var parts = [cells.length + ' values'];
    if (shown.length) {
      var top = shown.reduce(function (a, b) { return b.value > a.value ? b : a; });
      parts.push('highest ' + label(top) + ' with ' + num(top.value));
    }
    if (supp) parts.push(supp + ' suppressed');
    return parts.join('; ') + '. The data table below lists every value.';
  }

  function lineChart(id, f, cells, g) {
    var dim = g[0];
    var pts = cells.slice().sort(function (a, b) { return a.key[0] < b.key[0] ? -1 : a.key[0] > b.key[0] ? 1 : 0; });
    var H = 280, L = 56, R = 34, T = 18, B = 40;
    var pw = W - L - R, ph = H - T - B;
    var max = niceMax(Math.max.apply(null, [0].concat(pts.filter(function (c) { return !isSuppressed(c); }).map(function (c) { return c.value; }))));
    var label = function (c) { return keyLabel(dim, c.key[0], true); };
    var svg = chartSvg(id, H, f.title + ': line chart', describe(pts, label));
    var step = pts.length > 1 ? pw / (pts.length - 1) : 0;
    var x = function (i) { return L + (pts.length > 1 ? i * step : pw / 2); };
    var y = function (v) { return T + ph - (v / max) * ph; };
    var grid = s('g', { class: 'grid', 'aria-hidden': 'true' });
    for (var t = 0; t <= 4; t++) {
      var v = (max / 4) * t;
      grid.append(s('line', { x1: L, x2: W - R, y1: y(v), y2: y(v) }),
        s('text', { x: L - 8, y: y(v) + 4, 'text-anchor': 'end', class: 'tick' }, num(Math.round(v))));
    }
    svg.append(grid);
    var every = Math.max(1, Math.ceil(pts.length / 8));
    var axis = s('g', { 'aria-hidden': 'true' });
    pts.forEach(function (c, i) {
      if ((pts.length - 1 - i) % every === 0) {
        axis.append(s('text', { x: x(i), y: H - B + 18, 'text-anchor': 'middle', class: 'tick' }, label(c)));
      }
    });
    svg.append(axis);
    // Suppressed periods are hatched columns: the line breaks there
    // instead of pretending the value was zero.
    var bw = Math.max(8, Math.min(28, step * 0.6 || 28));
    pts.forEach(function (c, i) {
      if (!isSuppressed(c)) return;
      svg.append(s('rect', { x: x(i) - bw / 2, y: T, width: bw, height: ph, fill: 'url(#' + id + '-hatch)', class: 'supp' },
        s('title', null, label(c) + ': suppressed')));
    });
    var segs = [], cur = [];
    pts.forEach(function (c, i) {
      if (isSuppressed(c)) { if (cur.length) segs.push(cur); cur = []; return; }
      cur.push([x(i), y(c.value)]);
    });
    if (cur.length) segs.push(cur);
    segs.forEach(function (seg) {
      if (seg.length > 1) {
        var area = 'M' + seg[0][0] + ',' + y(0) + seg.map(function (p) { return 'L' + p[0] + ',' + p[1]; }).join('') + 'L' + seg[seg.length - 1][0] + ',' + y(0) + 'Z';
        svg.append(s('path', { d: area, fill: PALETTE[0], 'fill-opacity': 0.1, 'aria-hidden': 'true' }));
      }
      svg.append(s('path', { d: 'M' + seg.map(function (p) { return p[0] + ',' + p[1]; }).join('L'), fill: 'none', stroke: PALETTE[0], 'stroke-width': 2.5, 'stroke-linejoin': 'round', 'aria-hidden': 'true' }));
    });
    pts.forEach(function (c, i) {
      if (isSuppressed(c)) return;
      var rounded = c.status === 'rounded';
      svg.append(s('circle', { cx: x(i), cy: y(c.value), r: 4, fill: rounded ? '#ffffff' : PALETTE[0], stroke: PALETTE[0], 'stroke-width': 2 },
        s('title', null, label(c) + ': ' + (rounded ? '≈' : '') + num(c.value))));
    });
    if (pts.some(isSuppressed)) {
      svg.append(s('text', { x: W - R, y: T - 4, 'text-anchor': 'end', class: 'note' }, 'hatched: suppressed'));
    }
    return svg;
  }

  var MAX_BARS = 12;

  function barChart(id, f, cells, g) {
    var label = function (c) { return c.key.map(function (k, i) { return keyLabel(g[i] || '', k, true); }).join(' · '); };
    var values = cells.filter(function (c) { return !isSuppressed(c); }).sort(function (a, b) { return b.value - a.value; });
    var supp = cells.filter(isSuppressed);
    // Suppressed cells always stay in view: one by one when few, else as
    // one hatched row, so a long list cannot push them out of the chart.
    var suppRows = supp.length <= 2 ? supp : [{ key: [], value: 0, status: 'suppressed', text: supp.length + ' categories' }];
    var keep = values.slice(0, MAX_BARS - suppRows.length);
    var hidden = values.length - keep.length;
    var rows = keep.concat(suppRows);
    var label0 = label;
    label = function (c) { return c.text || label0(c); };
    var row = 26, T = 8, L = 180, R = 80;
    var H = T + rows.length * row + (hidden ? 24 : 8);
    var max = Math.max.apply(null, [1].concat(rows.filter(function (c) { return !isSuppressed(c); }).map(function (c) { return c.value; })));
    var pw = W - L - R;
    var svg = chartSvg(id, H, f.title + ': bar chart', describe(cells, label));
    rows.forEach(function (c, i) {
      var y = T + i * row;
      var name = label(c);
      var g1 = s('g', null, s('title', null, name + ': ' + (isSuppressed(c) ? 'suppressed' : (c.status === 'rounded' ? '≈' : '') + num(c.value))));
      g1.append(s('text', { x: L - 8, y: y + row / 2 + 4, 'text-anchor': 'end', class: 'label' }, truncate(name, 26)));
      if (isSuppressed(c)) {
        g1.append(s('rect', { x: L, y: y + 4, width: 44, height: row - 8, fill: 'url(#' + id + '-hatch)', stroke: '#5b6470', 'stroke-width': 1 }),
          s('text', { x: L + 52, y: y + row / 2 + 4, class: 'value supp-label' }, 'suppressed'));
      } else {
        var bw = Math.max(2, (c.value / max) * pw);
        g1.append(s('rect', { x: L, y: y + 4, width: bw, height: row - 8, rx: 2, fill: PALETTE[0] }),
          s('text', { x: L + bw + 6, y: y + row / 2 + 4, class: 'value' }, (c.status === 'rounded' ? '≈' : '') + num(c.value)));
      }
      svg.append(g1);
    });
    if (hidden) {
      svg.append(s('text', { x: L, y: H - 8, class: 'note' }, 'Largest ' + keep.length + ' shown; ' + hidden + ' more in the data table.'));
    }
    return svg;
  }

  function donutChart(id, f, cells, g) {
    var label = function (c) { return keyLabel(g[0], c.key[0], true); };
    var shown = cells.filter(function (c) { return !isSuppressed(c) && c.value > 0; }).sort(function (a, b) { return b.value - a.value; });
    var supp = cells.filter(isSuppressed);
    var total = shown.reduce(function (a, c) { return a + c.value; }, 0);
    var H = Math.max(220, 40 + (shown.length + supp.length) * 26);
    var cx = 120, cy = H / 2, r = 90, r0 = 56;
    var svg = chartSvg(id, H, f.title + ': donut chart', describe(cells, label));
    var a0 = -Math.PI / 2;
    shown.forEach(function (c, i) {
      var frac = c.value / total, a1 = a0 + frac * 2 * Math.PI;
      var colour = PALETTE[i % PALETTE.length];
      var title = s('title', null, label(c) + ': ' + num(c.value) + ' (' + Math.round(frac * 100) + '%)');
      if (frac >= 0.9999) {
        svg.append(s('circle', { cx: cx, cy: cy, r: (r + r0) / 2, fill: 'none', stroke: colour, 'stroke-width': r - r0 }, title));
      } else {
        var big = a1 - a0 > Math.PI ? 1 : 0;
        var p = function (rad, a) { return (cx + rad * Math.cos(a)).toFixed(2) + ',' + (cy + rad * Math.sin(a)).toFixed(2); };
        svg.append(s('path', {
          d: 'M' + p(r, a0) + 'A' + r + ',' + r + ' 0 ' + big + ' 1 ' + p(r, a1) + 'L' + p(r0, a1) + 'A' + r0 + ',' + r0 + ' 0 ' + big + ' 0 ' + p(r0, a0) + 'Z',
          fill: colour, stroke: '#ffffff', 'stroke-width': 1.5
        }, title));
      }
      a0 = a1;
    });
    if (!shown.length) svg.append(s('circle', { cx: cx, cy: cy, r: (r + r0) / 2, fill: 'none', stroke: 'url(#' + id + '-hatch)', 'stroke-width': r - r0 }));
    svg.append(s('text', { x: cx, y: cy - 2, 'text-anchor': 'middle', class: 'big' }, num(total)),
      s('text', { x: cx, y: cy + 16, 'text-anchor': 'middle', class: 'tick' }, 'total shown'));
    var ly = cy - ((shown.length + supp.length) * 26) / 2 + 13;
    shown.forEach(function (c, i) {
      var y = ly + i * 26;
      svg.append(s('rect', { x: 260, y: y - 9, width: 14, height: 14, rx: 2, fill: PALETTE[i % PALETTE.length] }),
        s('text', { x: 282, y: y + 3, class: 'label' }, label(c)),
        s('text', { x: W - 16, y: y + 3, 'text-anchor': 'end', class: 'value' },
          (c.status === 'rounded' ? '≈' : '') + num(c.value) + '  ·  ' + Math.round((c.value / total) * 100) + '%'));
    });
    supp.forEach(function (c, j) {
      var y = ly + (shown.length + j) * 26;
      svg.append(s('rect', { x: 260, y: y - 9, width: 14, height: 14, fill: 'url(#' + id + '-hatch)', stroke: '#5b6470' }),
        s('text', { x: 282, y: y + 3, class: 'label' }, label(c)),
        s('text', { x: W - 16, y: y + 3, 'text-anchor': 'end', class: 'value supp-label' }, 'suppressed'));
    });
    return svg;
  }

  // flowChart draws origin → destination as a two-column flow diagram: each
  // band's thickness is proportional to its value.
  function flowChart(id, f, cells) {
    var label = function (c) { return keyLabel('route.origin', c.key[0], true) + ' → ' + keyLabel('route.destination', c.key[1], true); };
    var flows = cells.filter(function (c) { return !isSuppressed(c) && c.value > 0; });
    var supp = cells.filter(isSuppressed);
    function totals(side) {
      var m = {};
      cells.forEach(function (c) { var k = c.key[side]; m[k] = (m[k] || 0) + (isSuppressed(c) ? 0 : c.value); });
      return Object.keys(m).map(function (k) { return { key: k, value: m[k] }; }).sort(function (a, b) { return b.value - a.value; });
    }
    var origins = totals(0), dests = totals(1);
    var n = Math.max(origins.length, dests.length, 1);
    var gap = 10, T = 26, nodeW = 12, L = 170, R = 170, minH = 4;
    var H = Math.max(200, n * 34 + T + 22);
    var sum = flows.reduce(function (a, c) { return a + c.value; }, 0) || 1;
    var scale = (H - T - 22 - (n - 1) * gap - n * minH) / sum;
    var svg = chartSvg(id, H, f.title + ': flow diagram from origin to destination', describe(cells, label));
    function place(list, x) {
      var used = list.reduce(function (a, o) { return a + minH + o.value * scale; }, 0) + (list.length - 1) * gap;
      var y = T + (H - T - 22 - used) / 2, pos = {};
      list.forEach(function (o) {
        var hgt = minH + o.value * scale;
        pos[o.key] = { x: x, y: y, h: hgt, out: y + minH / 2, node: o };
        y += hgt + gap;
      });
      return pos;
    }
    var po = place(origins, L), pd = place(dests, W - R - nodeW);
    var colour = {};
    origins.forEach(function (o, i) { colour[o.key] = PALETTE[i % PALETTE.length]; });
    flows.sort(function (a, b) {
      return (po[a.key[0]].y - po[b.key[0]].y) || (pd[a.key[1]].y - pd[b.key[1]].y);
    }).forEach(function (c) {
      var o = po[c.key[0]], d = pd[c.key[1]], t = c.value * scale;
      var x0 = o.x + nodeW, x1 = d.x, mx = (x0 + x1) / 2;
      var y0 = o.out, y1 = d.out;
      o.out += t; d.out += t;
      svg.append(s('path', {
        d: 'M' + x0 + ',' + y0 + 'C' + mx + ',' + y0 + ' ' + mx + ',' + y1 + ' ' + x1 + ',' + y1 +
          'L' + x1 + ',' + (y1 + t) + 'C' + mx + ',' + (y1 + t) + ' ' + mx + ',' + (y0 + t) + ' ' + x0 + ',' + (y0 + t) + 'Z',
        fill: colour[c.key[0]], 'fill-opacity': 0.45, class: 'band'
      }, s('title', null, label(c) + ': ' + (c.status === 'rounded' ? '≈' : '') + num(c.value))));
    });
    supp.forEach(function (c) {
      var o = po[c.key[0]], d = pd[c.key[1]];
      var y0 = o.y + o.h / 2, y1 = d.y + d.h / 2, x0 = o.x + nodeW, x1 = d.x, mx = (x0 + x1) / 2;
      svg.append(s('path', {
        d: 'M' + x0 + ',' + y0 + 'C' + mx + ',' + y0 + ' ' + mx + ',' + y1 + ' ' + x1 + ',' + y1,
        fill: 'none', stroke: '#5b6470', 'stroke-width': 1.5, 'stroke-dasharray': '4 3', class: 'supp'
      }, s('title', null, label(c) + ': suppressed')));
    });
    function nodes(pos, side) {
      Object.keys(pos).forEach(function (k) {
        var p = pos[k], name = keyLabel(side ? 'route.destination' : 'route.origin', k, true);
        var tx = side ? p.x + nodeW + 8 : p.x - 8;
        svg.append(s('rect', { x: p.x, y: p.y, width: nodeW, height: p.h, fill: side ? '#33414e' : colour[k] },
          s('title', null, name + ': ' + num(p.node.value))),
        s('text', { x: tx, y: p.y + p.h / 2 + 4, 'text-anchor': side ? 'start' : 'end', class: 'label' },
          truncate(name, 16) + ' ' + (p.node.value ? num(p.node.value) : '(suppressed)')));
      });
    }
    nodes(po, 0);
    nodes(pd, 1);
    svg.append(s('text', { x: L + nodeW, y: 12, 'text-anchor': 'end', class: 'tick strong' }, 'Origin'),
      s('text', { x: W - R - nodeW, y: 12, class: 'tick strong' }, 'Destination'));
    if (supp.length) svg.append(s('text', { x: W / 2, y: H - 4, 'text-anchor': 'middle', class: 'note' }, 'dashed: suppressed flow'));
    return svg;
  }

  function totalChart(id, f, cells) {
    var c = cells[0] || { value: 0, status: 'exact' };
    var txt = isSuppressed(c) ? 'suppressed' : (c.status === 'rounded' ? '≈' : '') + num(c.value);
    var svg = chartSvg(id, 100, f.title, 'Regional total: ' + txt + '.');
    svg.append(s('text', { x: W / 2, y: 62, 'text-anchor': 'middle', class: 'huge' }, txt));
    return svg;
  }

  function emptyChart(id, f) {
    var svg = chartSvg(id, 120, f.title, 'No complete run yet: nothing to draw.');
    svg.append(s('rect', { x: 1, y: 1, width: W - 2, height: 118, rx: 6, fill: 'url(#' + id + '-hatch)', 'fill-opacity': 0.5, stroke: '#c7ccd3' }),
      s('text', { x: W / 2, y: 66, 'text-anchor': 'middle', class: 'label strong' }, 'Waiting for the first complete run'));
    return svg;
  }

  // ---- figures --------------------------------------------------------

  function exportLinks(runId) {
    return [['CSV', 'csv'], ['SDMX-CSV', 'sdmx-csv'], ['SDMX-JSON', 'sdmx-json']].map(function (x) {
      return [h('a', { class: 'button', href: '/api/runs/' + encodeURIComponent(runId) + '/export?format=' + x[1], download: true }, x[0]), ' '];
    });
  }

  function codeList(list, note) {
    if (!list.length) return ['none'];
    return list.map(function (c, i) {
      var code = typeof c === 'string' ? c : c.country;
      return [i ? ', ' : '', h('abbr', { title: countryName(code) }, code), note ? ' (' + note(c) + ')' : ''];
    });
  }

  function renderFigure(f, old) {
    var q = f.query || {};
    var g = q.groupBy || [];
    var kind = kindOf(g);
    var fid = 'fig-' + safeId(f.id);
    var art = h('article', { class: 'figure', id: fid, 'data-figure': f.id, 'data-kind': kind, 'aria-labelledby': fid + '-h' });
    var missing = f.missing || [];
    var status = !f.runId ? 'No complete run yet' : missing.length ? 'Partial, ' + missing.length + (missing.length === 1 ? ' state' : ' states') + ' missing' : 'Complete';
    var what = measureTitle(q.measure || '') + (g.length ? ' by ' + g.map(dimTitle).join(' × ') : '');
    art.append(h('h3', { id: fid + '-h' }, f.title),
      h('p', { class: 'meta' }, h('span', null, 'Period: ' + period(q)), ' · ', h('span', null, what), ' · ',
        h('span', { class: 'status' }, 'Status: ' + status),
        f.completedAt ? [' · ', h('span', null, 'completed ' + fmtTime(f.completedAt))] : null));
    var chart = h('div', { class: 'chart' });
    art.append(chart);
    var cid = fid + '-chart';
    if (!f.runId) {
      chart.append(emptyChart(cid, f));
      art.append(h('p', { class: 'coverage norun' }, 'No complete run yet'));
      return art;
    }
    var cells = (f.cells || []).map(function (c) {
      return { key: c.key || [], value: Number(c.value || 0), status: cellStatus(c.status) };
    });
    var draw = { line: lineChart, bars: barChart, donut: donutChart, flow: flowChart, total: totalChart }[kind];
    try {
      chart.append(cells.length ? draw(cid, f, cells, g) : emptyChartText(cid, f));
    } catch (e) {
      // A chart that cannot be drawn must not take the page down: the
      // table below still has the numbers.
      chart.append(h('p', { class: 'error' }, 'This chart could not be drawn; see the data table.'));
    }
    var cov = [h('span', { class: 'cov-part' }, 'Contributed: ', codeList(f.contributors || []))];
    if ((f.suppressed || []).length) cov.push(' · ', h('span', { class: 'cov-part' }, 'Suppressed some cells: ', codeList(f.suppressed)));
    if (missing.length) cov.push(' · ', h('span', { class: 'cov-part' }, 'Missing: ', codeList(missing, function (m) { return stateWord(m.status); })));
    art.append(h('p', { class: 'coverage' }, cov));
    var anySupp = cells.some(isSuppressed), anyRounded = cells.some(function (c) { return c.status === 'rounded'; });
    if (anySupp || anyRounded) {
      art.append(h('p', { class: 'notes' },
        anySupp ? 'Some cells are suppressed: their value is withheld and not in any total shown. ' : '',
        anyRounded ? 'Values marked ≈ are rounded.' : ''));
    }
    var oldDetails = old && old.querySelector('details');
    art.append(h('details', { class: 'data', open: !!(oldDetails && oldDetails.open) },
      h('summary', null, 'Data table (' + cells.length + ' rows)'),
      h('table', null,
        h('caption', { class: 'sr-only' }, f.title + ', ' + period(q)),
        h('thead', null, h('tr', null,
          g.map(function (d) { return h('th', { scope: 'col' }, dimTitle(d)); }),
          h('th', { scope: 'col', class: 'num' }, measureTitle(q.measure || '')),
          h('th', { scope: 'col' }, 'Status'))),
        h('tbody', null, cells.map(function (c) {
          return h('tr', { class: 'st-' + c.status },
            c.key.map(function (k, i) { return h('td', null, keyLabel(g[i] || '', k, false)); }),
            h('td', { class: 'num' }, isSuppressed(c) ? 'suppressed' : num(c.value)),
            h('td', null, c.status));
        })))));
    art.append(h('p', { class: 'exports' }, 'Export: ', exportLinks(f.runId)));
    return art;
  }

  function emptyChartText(id, f) {
    var svg = chartSvg(id, 80, f.title, 'The run returned no cells.');
    svg.append(s('text', { x: W / 2, y: 46, 'text-anchor': 'middle', class: 'label' }, 'No cells in this result'));
    return svg;
  }

  function renderPicture(p) {
    var box = document.getElementById('figures');
    if (!box) return;
    var figs = (p && p.figures) || [];
    var out = figs.map(function (f) { return renderFigure(f, document.getElementById('fig-' + safeId(f.id))); });
    if (!out.length) out = [h('p', null, 'No figures are defined.')];
    box.replaceChildren.apply(box, out);
  }

  // ---- nodes ----------------------------------------------------------

  function renderNodes(list) {
    var tb = document.getElementById('node-rows');
    if (!tb) return;
    var rows = list.map(function (n) {
      var a = n.agreement || {};
      var hash = n.agreementHash || a.hash || '';
      var agreement = a.name ? a.name + ' v' + (a.version || 0) : hash ? '' : 'none published';
      var cert;
      if (n.certificateNotAfter) {
        var left = new Date(n.certificateNotAfter).getTime() - Date.now();
        var days = Math.ceil(left / 86400e3);
        var dayWord = days === 1 ? '1 day' : days + ' days';
        cert = [h('time', { datetime: n.certificateNotAfter }, n.certificateNotAfter.slice(0, 10)), ' ',
          left <= 0 ? h('span', { class: 'pill cert-expired' }, '✖ expired') :
            left <= certWarnMs ? h('span', { class: 'pill cert-warn' }, '⚠ expires in ' + dayWord) :
              h('span', { class: 'pill cert-ok' }, 'valid for ' + dayWord)];
      } else {
        cert = h('span', { class: 'pill cert-unknown' }, 'not known');
      }
      return h('tr', { 'data-country': n.country },
        h('th', { scope: 'row' }, h('span', { class: 'code' }, n.country), ' ', n.name || countryName(n.country)),
        h('td', null, n.connected ? h('span', { class: 'pill ok' }, '● Connected') : h('span', { class: 'pill bad' }, '○ Disconnected')),
        h('td', null, n.lastSeen ? h('time', { datetime: n.lastSeen }, ago(n.lastSeen)) : 'never'),
        h('td', null, n.softwareVersion || '—'),
        h('td', null, agreement, hash ? [' ', h('code', { title: 'agreement hash' }, hash.slice(0, 12))] : null),
        h('td', null, cert));
    });
    if (!rows.length) rows = [h('tr', null, h('td', { colspan: 6 }, 'No node has attached yet.'))];
    tb.replaceChildren.apply(tb, rows);
  }

  // ---- runs -----------------------------------------------------------

  function renderRuns(list) {
    var tb = document.getElementById('run-rows');
    if (!tb) return;
    var rows = list.map(function (r) {
      var states = r.states || [];
      var complete = r.state === 'RUN_STATE_COMPLETE';
      // An offline state's task waits for it until the deadline.
      var settled = states.filter(function (x) {
        return x.status && x.status !== 'STATE_STATUS_PENDING' && (complete || x.status !== 'STATE_STATUS_OFFLINE');
      }).length;
      var q = r.query, what = '';
      if (q) {
        what = measureTitle(q.measure || '') + ((q.groupBy || []).length ? ' by ' + q.groupBy.map(dimTitle).join(' × ') : '') + ', ' + period(q);
      } else if (r.extract) {
        what = 'Extract ' + (r.extract.extract || '');
      }
      if (runStates[r.id] === 'RUN_STATE_RUNNING' && complete) {
        announce('Run ' + r.id + ' complete: ' + settled + ' of ' + states.length + ' states settled.');
      }
      runStates[r.id] = r.state;
      return h('tr', { 'data-run': r.id },
        h('th', { scope: 'row' }, h('code', null, r.id)),
        h('td', null, what),
        h('td', null, h('span', { class: 'pill ' + (complete ? 'ok' : 'pending') }, complete ? 'Complete' : 'Running'), ' ',
          h('progress', { max: states.length || 1, value: settled, 'aria-label': 'States settled' }, settled + ' of ' + states.length), ' ',
          settled + ' of ' + states.length + ' settled'),
        h('td', null, states.map(function (x) {
          return [h('span', { class: 'pill ' + stateClass(x.status), title: countryName(x.country) + (x.reason ? ': ' + x.reason : '') },
            x.country + ' ' + stateWord(x.status)), ' '];
        })),
        h('td', null, fmtTime(r.createdAt)),
        h('td', null, complete && q ? exportLinks(r.id) : h('span', { class: 'muted' }, 'when complete')));
    });
    if (!rows.length) rows = [h('tr', null, h('td', { colspan: 6 }, 'No runs yet.'))];
    tb.replaceChildren.apply(tb, rows);
  }

  function announce(msg) {
    var a = document.getElementById('announce');
    if (a) a.textContent = msg;
  }

  // ---- polling --------------------------------------------------------

  function fetchText(url) {
    return fetch(url, { headers: { Accept: 'application/json' }, cache: 'no-store', credentials: 'same-origin' })
      .then(function (r) {
        if (!r.ok) throw new Error(url + ': HTTP ' + r.status);
        return r.text();
      });
  }

  // refresh redraws a part only when its JSON changed, so a reader's focus
  // and an open data table are not disturbed every few seconds.
  function refresh(key, url, render) {
    return fetchText(url).then(function (txt) {
      if (txt === last[key]) return;
      last[key] = txt;
      render(JSON.parse(txt));
    });
  }

  function tick() {
    var done = Promise.all([
      refresh('picture', '/api/picture', function (d) { renderPicture(d.picture || {}); }),
      refresh('nodes', '/api/nodes', function (d) { renderNodes(d.nodes || []); }),
      refresh('runs', '/api/runs?page_size=10', function (d) { renderRuns(d.runs || []); })
    ]);
    var up = document.getElementById('updated');
    return done.then(function () {
      if (up) { up.textContent = 'Updated ' + new Date().toISOString().slice(11, 19) + ' UTC'; up.classList.remove('stale'); }
    }, function () {
      if (up) { up.textContent = 'Cannot reach the hub; retrying'; up.classList.add('stale'); }
    });
  }

  function loop() {
    var next = function () { setTimeout(loop, pollMs); };
    if (document.hidden) { next(); return; }
    tick().then(next, next);
  }

  function start() {
    fetchText('/api/labels').then(function (t) { labels = JSON.parse(t); }, function () { /* codes stay codes */ })
      .then(function () { body.classList.add('js'); loop(); });
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
