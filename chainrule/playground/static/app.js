// chainrule playground: the page. It draws what the server's session sends and sends back
// what the learner does; all training and every number of a derivation come from the
// server (chainrule's engine). No code is fetched from anywhere else.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const SVG = "http://www.w3.org/2000/svg";
  const FEATURES = ["x1", "x2", "x1^2", "x2^2", "x1*x2", "sin(x1)", "sin(x2)"];
  const FEATURE_LABEL = {"x1": "x\u2081", "x2": "x\u2082", "x1^2": "x\u2081\u00b2",
    "x2^2": "x\u2082\u00b2", "x1*x2": "x\u2081x\u2082", "sin(x1)": "sin(x\u2081)",
    "sin(x2)": "sin(x\u2082)"};
  const DATASETS = {
    classification: [["circle", "Circle"], ["xor", "Exclusive or"], ["gaussian", "Gaussian"],
      ["spiral", "Spiral"], ["moons", "Moons"]],
    regression: [["plane", "Plane"], ["bumps", "Gaussian bumps"]],
  };
  const MAX_LAYERS = 6, MAX_NEURONS = 8;
  const NODE = 38, GAP = 12, TOP = 34, ANIMATION_MS = 280;

  // Orange (negative) - light grey (0) - blue (positive), as TensorFlow Playground colours.
  const NEG = [245, 147, 34], MID = [232, 234, 235], POS = [8, 119, 189];
  const LUT = new Uint8ClampedArray(256 * 3);
  for (let i = 0; i < 256; i++) {
    const t = i / 127.5 - 1, to = t < 0 ? NEG : POS, f = Math.abs(t);
    for (let c = 0; c < 3; c++) LUT[i * 3 + c] = MID[c] + (to[c] - MID[c]) * f;
  }
  const colourOf = (v) => {
    const i = Math.round((Math.max(-1, Math.min(1, v)) + 1) * 127.5) * 3;
    return `rgb(${LUT[i]},${LUT[i + 1]},${LUT[i + 2]})`;
  };

  let ws = null, token = null, settings = null, net = null, lastFrame = null;
  let playing = false, animating = false, pendingFrame = null, target = null;
  let history = [];
  const pings = new Map();

  // ------------------------------------------------------------------ connection
  function connect() {
    ws = new WebSocket(`ws://${location.host}/ws`);
    ws.onmessage = (event) => handle(JSON.parse(event.data));
    ws.onclose = () => showMessage("The connection to the playground server closed; " +
      "start 'chainrule playground' again and reload this page.", true);
  }
  function send(message) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message));
  }
  function sendSettings(changes) { send({type: "settings", settings: changes}); }

  function handle(m) {
    switch (m.type) {
      case "hello":
        token = m.session;
        $("export-script").href = `/export/script/${token}`;
        window.playgroundUploadLimit = m.limits.upload_bytes;
        break;
      case "network": applyNetwork(m); break;
      case "frame":
        if (m.playing === false) setPlaying(false);
        if (animating) pendingFrame = m; else applyFrame(m);
        break;
      case "step":
        animate(m.animation).then(() => {
          applyFrame(m.frame);
          if (target) explain(target);   // the derivation for the batch that comes next
        });
        break;
      case "settings_ok": settings = m.settings; syncControls(); break;
      case "derivation": showDerivation(m); break;
      case "exported":
        $("exported").textContent = `Written to ${m.path}. Evaluate it with: ${m.command}`;
        break;
      case "pong": {
        const sent = pings.get(m.id);
        if (sent !== undefined) { pings.delete(m.id); document.body.dataset.pingMs = (performance.now() - sent).toFixed(1); }
        break;
      }
      case "error":
        showMessage(m.message, m.fatal);
        syncControls();
        break;
    }
  }

  let messageTimer = null;
  function showMessage(text, sticky) {
    const box = $("message");
    box.textContent = text;
    box.hidden = false;
    clearTimeout(messageTimer);
    if (!sticky) messageTimer = setTimeout(() => { box.hidden = true; }, 8000);
  }

  // -------------------------------------------------------------- controls
  function setPlaying(on) {
    playing = on;
    $("play").innerHTML = on ? "&#10074;&#10074;" : "&#9654;";
    $("play").classList.toggle("playing", on);
  }

  function syncControls() {
    if (!settings) return;
    for (const el of document.querySelectorAll("[data-setting]")) {
      const v = settings[el.dataset.setting];
      if (el.dataset.number) {
        const match = [...el.options].find((o) => Number(o.value) === v);
        if (!match) el.add(new Option(String(v), String(v)));
        el.value = match ? match.value : String(v);
      } else el.value = v;
    }
    $("problem").value = settings.problem;
    $("train_ratio").value = Math.round(settings.train_ratio * 100);
    $("train_ratio_value").textContent = `${Math.round(settings.train_ratio * 100)}%`;
    $("noise").value = Math.round(settings.noise * 100);
    $("noise_value").textContent = `${Math.round(settings.noise * 100)}`;
    $("batch_size").value = settings.batch_size;
    $("batch_size_value").textContent = settings.batch_size;
    const box = $("datasets");
    box.textContent = "";
    for (const [name, label] of DATASETS[settings.problem]) {
      const b = document.createElement("button");
      b.textContent = label;
      b.id = `dataset-${name}`;
      b.className = "dataset" + (settings.dataset === name ? " active" : "");
      b.addEventListener("click", () => sendSettings({dataset: name}));
      box.appendChild(b);
    }
    if (settings.dataset === "csv") {
      const b = document.createElement("button");
      b.textContent = net && net.upload ? net.upload : "CSV";
      b.className = "dataset active";
      box.appendChild(b);
    }
    const layers = settings.hidden.length;
    $("layer-count").textContent = `${layers} hidden layer${layers === 1 ? "" : "s"}`;
  }

  function wireControls() {
    for (const el of document.querySelectorAll("[data-setting]")) {
      el.addEventListener("change", () => sendSettings({
        [el.dataset.setting]: el.dataset.number ? Number(el.value) : el.value}));
    }
    $("problem").addEventListener("change", () => {
      const problem = $("problem").value;
      sendSettings({problem, dataset: DATASETS[problem][0][0]});
    });
    $("train_ratio").addEventListener("change", (e) => sendSettings({train_ratio: Number(e.target.value) / 100}));
    $("noise").addEventListener("change", (e) => sendSettings({noise: Number(e.target.value) / 100}));
    $("batch_size").addEventListener("change", (e) => sendSettings({batch_size: Number(e.target.value)}));
    $("train_ratio").addEventListener("input", (e) => { $("train_ratio_value").textContent = `${e.target.value}%`; });
    $("noise").addEventListener("input", (e) => { $("noise_value").textContent = e.target.value; });
    $("batch_size").addEventListener("input", (e) => { $("batch_size_value").textContent = e.target.value; });
    $("regenerate").addEventListener("click", () => sendSettings({seed: (settings.seed + 1) % 2147483647}));
    $("play").addEventListener("click", () => {
      setPlaying(!playing);
      send({type: playing ? "play" : "pause"});
    });
    $("step").addEventListener("click", () => { if (!animating) { setPlaying(false); send({type: "step"}); } });
    $("reset").addEventListener("click", () => { setPlaying(false); send({type: "reset"}); });
    $("add-layer").addEventListener("click", () => {
      if (settings.hidden.length >= MAX_LAYERS) return showMessage(`At most ${MAX_LAYERS} hidden layers.`);
      sendSettings({hidden: [...settings.hidden, 2]});
    });
    $("remove-layer").addEventListener("click", () => {
      if (!settings.hidden.length) return showMessage("There is no hidden layer to remove.");
      sendSettings({hidden: settings.hidden.slice(0, -1)});
    });
    $("csv").addEventListener("change", async (e) => {
      const file = e.target.files[0];
      e.target.value = "";
      if (!file) return;
      const limit = window.playgroundUploadLimit || 0;
      if (limit && file.size > limit) {
        return showMessage(`${file.name} is ${file.size.toLocaleString()} bytes; the playground takes at most ${limit.toLocaleString()}.`);
      }
      send({type: "upload", name: file.name, content: await file.text()});
    });
    $("export-checkpoint").addEventListener("click", () => {
      $("exported").textContent = "Writing\u2026";
      send({type: "export_checkpoint"});
    });
    $("show-test").addEventListener("change", drawPlot);
    $("show-batch").addEventListener("change", drawPlot);
    $("derivation-close").addEventListener("click", closeDerivation);
    window.addEventListener("resize", () => { if (net) { buildDiagram(); applyFrame(lastFrame); } });
    // A ping the test of responsiveness (and a curious learner, in the console) can send.
    window.playgroundPing = () => { const id = Math.random(); pings.set(id, performance.now()); send({type: "ping", id}); };
  }

  // -------------------------------------------------------------- network diagram
  function applyNetwork(m) {
    net = m;
    net.train_index = new Map(net.points.train.map((p, k) => [p[3], k]));   // data index -> point
    settings = m.settings;
    history = [];
    closeDerivation();
    syncControls();
    buildDiagram();
    applyFrame(m.frame);
  }

  function columns() {
    // column 0 holds every feature (active or not); then the hidden layers; then the output
    return [FEATURES.length, ...settings.hidden, 1];
  }

  function nodePos(col, row) {
    const width = $("diagram").clientWidth;
    const n = columns().length;
    const x = 70 + col * (width - 70 - NODE - 10) / (n - 1);
    return {x, y: TOP + row * (NODE + GAP)};
  }

  function buildDiagram() {
    const box = $("diagram");
    for (const el of box.querySelectorAll(".node, .layer-head, .feature-label, .val")) el.remove();
    const svg = $("edges");
    svg.textContent = "";
    const cols = columns();
    const height = TOP + Math.max(...cols) * (NODE + GAP) + 10;
    box.style.height = `${height}px`;
    svg.setAttribute("width", box.clientWidth);
    svg.setAttribute("height", height);
    const active = settings.features;
    // nodes
    cols.forEach((count, col) => {
      for (let row = 0; row < count; row++) {
        const p = nodePos(col, row);
        const node = document.createElement("div");
        node.className = "node";
        node.style.left = `${p.x}px`;
        node.style.top = `${p.y}px`;
        const canvas = document.createElement("canvas");
        node.appendChild(canvas);
        if (col === 0) {
          const name = FEATURES[row];
          node.id = `feature-${row}`;
          node.classList.add("feature", active.includes(name) ? "on" : "off");
          node.title = `input feature ${name}: click to switch it ${active.includes(name) ? "off" : "on"}`;
          node.addEventListener("click", () => {
            const next = active.includes(name) ? active.filter((f) => f !== name) : [...active, name];
            sendSettings({features: next});
          });
          const label = document.createElement("div");
          label.className = "feature-label";
          label.textContent = FEATURE_LABEL[name];
          label.style.left = `${p.x - 62}px`;
          label.style.top = `${p.y + NODE / 2 - 8}px`;
          box.appendChild(label);
        } else {
          node.id = `node-${col}-${row}`;
          const bias = document.createElement("div");
          bias.className = "bias";
          bias.id = `bias-${col}-${row}`;
          bias.title = `bias b${col}[${row + 1}]: click to see its gradient`;
          bias.addEventListener("click", (e) => { e.stopPropagation(); explain({layer: col, kind: "bias", row, col: 0, sample: 0}); });
          node.appendChild(bias);
        }
        const val = document.createElement("div");
        val.className = "val";
        val.id = `val-${col}-${row}`;
        val.style.left = `${p.x - 10}px`;
        val.style.top = `${p.y + NODE + 1}px`;
        box.appendChild(val);
        box.appendChild(node);
      }
      if (col > 0 && col < cols.length - 1) {   // + / - neurons above each hidden layer
        const head = document.createElement("div");
        head.className = "layer-head";
        head.style.left = `${nodePos(col, 0).x - 14}px`;
        const layer = col - 1;
        for (const [sign, delta] of [["+", 1], ["\u2212", -1]]) {
          const b = document.createElement("button");
          b.textContent = sign;
          b.id = `neurons-${delta > 0 ? "add" : "remove"}-${col}`;
          b.title = delta > 0 ? "Add a neuron" : "Remove a neuron";
          b.addEventListener("click", () => {
            const hidden = [...settings.hidden];
            hidden[layer] += delta;
            if (hidden[layer] < 1 || hidden[layer] > MAX_NEURONS) {
              return showMessage(`A layer has 1 to ${MAX_NEURONS} neurons.`);
            }
            sendSettings({hidden});
          });
          head.appendChild(b);
        }
        box.appendChild(head);
      }
    });
    // edges: layer k (1-based) joins column k-1 to column k; its inputs are the active features
    for (let k = 1; k < cols.length; k++) {
      const inputs = k === 1 ? active.map((f) => FEATURES.indexOf(f)) : [...Array(cols[k - 1]).keys()];
      for (let row = 0; row < cols[k]; row++) {
        inputs.forEach((fromRow, i) => {
          const a = nodePos(k - 1, fromRow), b = nodePos(k, row);
          const d = `M${a.x + NODE},${a.y + NODE / 2} C${(a.x + NODE + b.x) / 2},${a.y + NODE / 2} ${(a.x + NODE + b.x) / 2},${b.y + NODE / 2} ${b.x},${b.y + NODE / 2}`;
          const line = document.createElementNS(SVG, "path");
          line.setAttribute("d", d);
          line.setAttribute("class", "edge");
          line.id = `edge-${k}-${row}-${i}`;
          const hit = document.createElementNS(SVG, "path");
          hit.setAttribute("d", d);
          hit.setAttribute("class", "hit");
          hit.id = `hit-${k}-${row}-${i}`;
          const title = document.createElementNS(SVG, "title");
          title.textContent = `weight W${k}[${row + 1},${i + 1}]: click to see its gradient`;
          hit.appendChild(title);
          hit.addEventListener("click", () => explain({layer: k, kind: "weight", row, col: i, sample: 0}));
          svg.appendChild(line);
          svg.appendChild(hit);
        });
      }
    }
    drawFeatureMaps();
  }

  function decode(b64) {
    const raw = atob(b64), out = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  }

  function paint(canvas, b64, size) {
    const q = decode(b64);
    canvas.width = size;
    canvas.height = size;
    const ctx = canvas.getContext("2d");
    const img = ctx.createImageData(size, size);
    for (let i = 0; i < q.length; i++) {
      img.data[i * 4] = LUT[q[i] * 3];
      img.data[i * 4 + 1] = LUT[q[i] * 3 + 1];
      img.data[i * 4 + 2] = LUT[q[i] * 3 + 2];
      img.data[i * 4 + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
  }

  function drawFeatureMaps() {
    for (const f of net.features) {
      const node = $(`feature-${FEATURES.indexOf(f.name)}`);
      if (node) paint(node.querySelector("canvas"), f.heatmap, net.grid.neuron);
    }
  }

  // -------------------------------------------------------------- frames
  function applyFrame(f) {
    if (!f || !net) return;
    lastFrame = f;
    $("epoch").textContent = f.epoch;
    $("stepinfo").textContent = `step ${f.steps} \u00b7 batch ${f.batch + 1}/${f.steps_per_epoch}`;
    $("test-loss").textContent = f.test_loss === null ? "diverged" : f.test_loss.toFixed(3);
    $("train-loss").textContent = f.train_loss === null ? "diverged" : f.train_loss.toFixed(3);
    $("test-loss").dataset.value = f.test_loss;
    if (f.full) history = [];
    history.push(...f.history);
    drawCurve();
    const cols = columns();
    f.weights.forEach((layer, k0) => {
      const k = k0 + 1;
      layer.W.forEach((row, j) => row.forEach((w, i) => {
        const line = $(`edge-${k}-${j}-${i}`);
        if (!line) return;
        line.style.stroke = w >= 0 ? "rgb(8,119,189)" : "rgb(245,147,34)";
        line.style.strokeWidth = Math.min(10, 0.4 + Math.abs(w) * 2.2);
        line.dataset.value = w;
      }));
      layer.b.forEach((b, j) => {
        const sq = $(`bias-${k}-${j}`);
        if (sq) { sq.style.background = colourOf(b); sq.dataset.value = b; }
      });
    });
    f.heatmaps.hidden.forEach((maps, layer) => maps.forEach((b64, j) => {
      const node = $(`node-${layer + 1}-${j}`);
      if (node) paint(node.querySelector("canvas"), b64, net.grid.neuron);
    }));
    const out = $(`node-${cols.length - 1}-0`);
    if (out) paint(out.querySelector("canvas"), f.heatmaps.output, net.grid.output);
    drawPlot();
    drawFlow(f.flow);
  }

  function drawPlot() {
    if (!lastFrame) return;
    const canvas = $("plot"), ctx = canvas.getContext("2d"), W = canvas.width;
    const tmp = document.createElement("canvas");
    paint(tmp, lastFrame.heatmaps.output, net.grid.output);
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(tmp, 0, 0, W, W);
    const e = net.extent, px = (x) => (x + e) / (2 * e) * W, py = (y) => (e - y) / (2 * e) * W;
    const regression = settings.problem === "regression";
    const dot = (p, stroke) => {
      ctx.beginPath();
      ctx.arc(px(p[0]), py(p[1]), 3.2, 0, 2 * Math.PI);
      ctx.fillStyle = regression ? colourOf(p[2]) : (p[2] > 0.5 ? "rgb(8,119,189)" : "rgb(245,147,34)");
      ctx.fill();
      ctx.lineWidth = 1;
      ctx.strokeStyle = stroke;
      ctx.stroke();
    };
    net.points.train.forEach((p) => dot(p, "white"));
    if ($("show-test").checked) net.points.test.forEach((p) => dot(p, "black"));
    if ($("show-batch").checked && lastFrame.next_batch) {
      ctx.strokeStyle = "#222";
      ctx.lineWidth = 1.5;
      for (const i of lastFrame.next_batch) {
        const p = pointByIndex(i);
        if (!p) continue;
        ctx.beginPath();
        ctx.arc(px(p[0]), py(p[1]), 6.5, 0, 2 * Math.PI);
        ctx.stroke();
      }
    }
    // axes: the standardised units the network sees
    ctx.fillStyle = "rgba(0,0,0,0.55)";
    ctx.font = "10px sans-serif";
    ctx.fillText(`${(-e).toFixed(1)}`, 2, W - 3);
    ctx.fillText(`${e.toFixed(1)}`, W - 18, W - 3);
    $("legend-low").textContent = regression ? "\u22121" : "class 0";
    $("legend-high").textContent = regression ? "1" : "class 1";
  }

  function pointByIndex(i) {
    const k = net.train_index.get(i);
    return k === undefined ? undefined : net.points.train[k];
  }

  function drawCurve() {
    const canvas = $("curve"), ctx = canvas.getContext("2d"), W = canvas.width, H = canvas.height;
    ctx.clearRect(0, 0, W, H);
    const pts = history.filter((h) => h[1] !== null && h[2] !== null);
    if (pts.length < 2) return;
    const x0 = pts[0][0], x1 = pts[pts.length - 1][0] || 1;
    const top = Math.max(...pts.map((h) => Math.max(h[1], h[2])), 1e-9);
    const line = (col, colour) => {
      ctx.beginPath();
      pts.forEach((h, i) => {
        const x = (h[0] - x0) / Math.max(x1 - x0, 1e-9) * (W - 4) + 2, y = H - 2 - h[col] / top * (H - 6);
        if (i) ctx.lineTo(x, y); else ctx.moveTo(x, y);
      });
      ctx.strokeStyle = colour;
      ctx.lineWidth = 1.5;
      ctx.stroke();
    };
    line(1, "#999");
    line(2, "#111");
  }

  function drawFlow(flow) {
    const bars = $("flow-bars");
    bars.textContent = "";
    if (!flow) {
      $("flow-status").textContent = "";
      $("flow-verdict").textContent = "Shown after the first epoch (or the first step).";
      $("flow-advice").textContent = "";
      return;
    }
    $("flow-status").textContent = flow.status;
    $("flow-status").className = `status ${flow.status.replace("+", "-")}`;
    for (const layer of flow.layers) {
      const g = layer.grad_norm;
      const level = g > 0 ? Math.max(0, Math.min(1, (Math.log10(g) + 8) / 9)) : 0;
      const bar = document.createElement("div");
      bar.className = "bar";
      bar.title = `${layer.name}: gradient norm ${g.toExponential(2)}` +
        (layer.update_ratio === null ? "" : `, update/weight ${layer.update_ratio.toExponential(2)}`);
      const fill = document.createElement("div");
      fill.className = "fill";
      fill.style.height = `${Math.round(level * 100)}%`;
      const name = document.createElement("span");
      name.textContent = layer.name;
      const value = document.createElement("small");
      value.textContent = g.toExponential(1);
      bar.append(fill, name, value);
      bars.appendChild(bar);
    }
    $("flow-verdict").textContent = `Epoch ${flow.epoch}: ${flow.verdict}.`;
    const advice = $("flow-advice");
    advice.textContent = "";
    for (const a of flow.advice) {
      const li = document.createElement("li");
      li.textContent = a;
      advice.appendChild(li);
    }
  }

  // -------------------------------------------------------------- one step, animated
  const wait = (ms) => new Promise((r) => setTimeout(r, ms));

  async function animate(a) {
    animating = true;
    const cols = columns(), active = settings.features, box = $("diagram");
    const nodeOf = (col, j) => col === 0 ? $(`feature-${FEATURES.indexOf(active[j])}`) : $(`node-${col}-${j}`);
    const valOf = (col, j) => col === 0 ? $(`val-0-${FEATURES.indexOf(active[j])}`) : $(`val-${col}-${j}`);
    box.classList.add("animating");
    const fmt = (v) => Math.abs(v) >= 100 || (Math.abs(v) < 0.001 && v !== 0) ? v.toExponential(1) : v.toFixed(3);
    for (let col = 0; col < cols.length; col++) {      // forward: values flow right
      a.forward[col].forEach((v, j) => {
        nodeOf(col, j).classList.add("fwd");
        const label = valOf(col, j);
        label.textContent = fmt(v);
        label.classList.add("show", "fwd");
      });
      if (col > 0) for (const e of box.querySelectorAll(`[id^="edge-${col}-"]`)) e.classList.add("pulse-fwd");
      await wait(ANIMATION_MS);
    }
    for (let col = cols.length - 1; col >= 1; col--) { // backward: deltas flow left
      a.delta[col - 1].forEach((d, j) => {
        nodeOf(col, j).classList.add("bwd");
        const label = valOf(col, j);
        label.textContent = `\u03b4 ${fmt(d)}`;
        label.classList.replace("fwd", "bwd");
      });
      a.grad[col - 1].forEach((row, j) => row.forEach((g, i) => {
        const e = $(`edge-${col}-${j}-${i}`);
        if (e) { e.classList.remove("pulse-fwd"); e.classList.add(g >= 0 ? "pulse-bwd-pos" : "pulse-bwd-neg"); }
      }));
      await wait(ANIMATION_MS);
    }
    await wait(ANIMATION_MS);
    for (const el of box.querySelectorAll(".fwd, .bwd, .pulse-fwd, .pulse-bwd-pos, .pulse-bwd-neg, .val.show")) {
      el.classList.remove("fwd", "bwd", "pulse-fwd", "pulse-bwd-pos", "pulse-bwd-neg", "show");
    }
    box.classList.remove("animating");
    animating = false;
    if (pendingFrame) { applyFrame(pendingFrame); pendingFrame = null; }
  }

  // -------------------------------------------------------------- derivation
  function explain(t) {
    target = t;
    send({type: "explain", ...t});
  }

  function closeDerivation() {
    target = null;
    $("derivation").hidden = true;
    for (const e of document.querySelectorAll(".selected")) e.classList.remove("selected");
  }

  function cell(text, cls) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    return td;
  }

  function showDerivation(d) {
    target = {layer: d.layer, kind: d.kind, row: d.row, col: d.col, sample: d.sample};
    for (const e of document.querySelectorAll(".selected")) e.classList.remove("selected");
    const el = d.kind === "weight" ? $(`edge-${d.layer}-${d.row}-${d.col}`) : $(`bias-${d.layer}-${d.row}`);
    if (el) el.classList.add("selected");
    const panel = $("derivation");
    panel.hidden = false;
    panel.dataset.name = d.name;
    $("derivation-title").textContent = `Why ${d.name} moves: its gradient on the next batch (${d.batch.length} points)`;
    const fmt = (v) => Number(v).toPrecision(6);
    const grad = d.checks[0], update = d.checks[1];
    $("derivation-checks").textContent =
      `${d.ok ? "\u2714" : "\u2718"} Every figure marked \u2714 was checked against chainrule's autograd: ` +
      `the trace's ${d.trace_checked} forward values, deltas and gradients, the total gradient ` +
      `(derived ${fmt(grad.derived)}, autograd ${fmt(grad.engine)}) and the update ` +
      `(derived ${fmt(update.derived)}, the engine's step ${fmt(update.engine)}).`;
    $("derivation-checks").className = d.ok ? "ok" : "bad";
    const samples = $("derivation-samples");
    samples.textContent = "Show the chain for point: ";
    d.batch.forEach((point, s) => {
      const b = document.createElement("button");
      b.textContent = s + 1;
      b.title = `data point ${point}`;
      b.className = s === d.sample ? "active" : "";
      b.addEventListener("click", () => explain({...target, sample: s}));
      samples.appendChild(b);
    });
    const body = $("derivation-body");
    body.textContent = "";
    for (const section of d.sections) {
      const h = document.createElement("h3");
      h.textContent = section.title;
      body.appendChild(h);
      const table = document.createElement("table");
      if (section.rows) {
        table.className = "rows";
        for (const r of section.rows) {
          const tr = document.createElement("tr");
          tr.appendChild(cell(r.lhs, "lhs"));
          const parts = r.rhs.slice();
          const last = parts.pop();
          const rhs = cell(parts.length ? `= ${parts.join(" = ")} = ` : "= ", "rhs");
          const value = document.createElement("b");
          value.textContent = last;
          if (r.key) value.dataset.key = r.key;
          if (r.value !== undefined) value.dataset.value = r.value;
          rhs.appendChild(value);
          if (r.checked) {
            const mark = document.createElement("span");
            mark.className = "check";
            mark.textContent = " \u2714";
            mark.title = "checked against chainrule's autograd";
            rhs.appendChild(mark);
          }
          tr.appendChild(rhs);
          table.appendChild(tr);
        }
      } else {
        const t = section.table;
        const p = document.createElement("p");
        p.className = "formula";
        p.textContent = t.formula;
        body.appendChild(p);
        table.className = "batch";
        const head = document.createElement("tr");
        for (const h of t.header) { const th = document.createElement("th"); th.textContent = h; head.appendChild(th); }
        table.appendChild(head);
        t.rows.forEach((r, s) => {
          const tr = document.createElement("tr");
          if (s === d.sample) tr.className = "current";
          for (const c of r) tr.appendChild(cell(c));
          table.appendChild(tr);
        });
        const sum = document.createElement("tr");
        sum.className = "sum";
        sum.appendChild(cell("\u03a3", ""));
        const total = cell(t.sum);
        total.colSpan = t.header.length - 1;
        total.dataset.key = "grad_data";
        total.dataset.value = t.value;
        sum.appendChild(total);
        table.appendChild(sum);
      }
      body.appendChild(table);
    }
  }

  // -------------------------------------------------------------- start
  wireControls();
  connect();
})();
