// The dashboard's pages: each polls the JSON API and fills its tables in place.
// Every value from the server is set as text (h() below), never parsed as HTML.
"use strict";

(() => {
  const body = document.body;
  const root = body.dataset.root || "";
  const queue = body.dataset.queue || "";
  const actionsOn = body.dataset.actions === "on";
  const refreshMs = Math.max(200, parseFloat(body.dataset.refresh || "2") * 1000);
  const params = new URLSearchParams(location.search);
  const PAGE = 50;

  // An element: attributes from `attrs`, children appended as nodes or as text.
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
      else el.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      el.append(child instanceof Node ? child : String(child));
    }
    return el;
  }

  const enc = encodeURIComponent;
  const number = (n) => (n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US"));

  function ago(seconds) {
    const s = Math.abs(seconds);
    const text =
      s < 1 ? "now" :
      s < 90 ? `${Math.round(s)} s` :
      s < 5400 ? `${Math.round(s / 60)} min` :
      s < 172800 ? `${Math.round(s / 3600)} h` : `${Math.round(s / 86400)} d`;
    if (text === "now") return text;
    return seconds > 0 ? `in ${text}` : `${text} ago`;
  }

  function when(at, now) {
    const date = new Date(at * 1000);
    return h("time", { datetime: date.toISOString(), title: date.toString(), "data-at": at }, ago(at - now));
  }

  // Bring the relative times of rows that were not redrawn up to `now`.
  function retime(now) {
    for (const el of document.querySelectorAll("time[data-at]")) {
      el.textContent = ago(parseFloat(el.dataset.at) - now);
    }
  }

  async function api(path, options) {
    const response = await fetch(root + path, options);
    let data = null;
    try {
      data = await response.json();
    } catch (e) {
      data = null;
    }
    if (!response.ok) {
      const error = new Error((data && data.error) || `${response.status} ${response.statusText}`);
      error.status = response.status;
      throw error;
    }
    return data;
  }

  // Run `load` now and every refreshMs (not while the tab is hidden); returns a function
  // that runs it again at once.
  function live(load) {
    const status = document.getElementById("live");
    let timer = null;
    let busy = false;
    let again = false;
    async function tick() {
      clearTimeout(timer);
      if (busy) {
        again = true;
        return;
      }
      busy = true;
      try {
        if (!document.hidden) {
          await load();
          status.textContent = `live · updated ${new Date().toLocaleTimeString()}`;
          status.className = "live ok";
        }
      } catch (e) {
        status.textContent = e.message;
        status.className = "live failed";
      } finally {
        busy = false;
      }
      if (again) {
        again = false;
        tick();
      } else {
        timer = setTimeout(tick, refreshMs);
      }
    }
    document.addEventListener("visibilitychange", () => document.hidden || tick());
    tick();
    return tick;
  }

  // Replace the rows of `tbody` unless they show the same data as last time (so a click
  // on a row's button is never lost to a redraw).
  function fill(tbody, key, rows, empty, columns) {
    if (tbody.dataset.key === key) return;
    tbody.dataset.key = key;
    if (rows.length === 0) rows = [h("tr", { class: "empty" }, h("td", { colspan: columns }, empty))];
    tbody.replaceChildren(...rows);
  }

  function flash(text, failed) {
    const el = document.getElementById("flash");
    if (!el) return;
    el.textContent = text;
    el.className = failed ? "flash failed" : "flash";
  }

  async function act(kind, ids) {
    const data = await api(`/api/${kind}/${enc(queue)}`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-AJQ-Action": "1" },
      body: JSON.stringify(ids ? { ids } : { all: true }),
    });
    const n = kind === "requeue" ? data.requeued : data.deleted;
    return `${kind === "requeue" ? "Requeued" : "Deleted"} ${n} job${n === 1 ? "" : "s"}.`;
  }

  // A button that runs an action, asks first when `question` is given, then refreshes.
  function actionButton(label, kind, ids, question, refresh, cls) {
    return h("button", {
      type: "button",
      class: cls,
      onclick: async (event) => {
        if (question && !window.confirm(question)) return;
        event.target.disabled = true;
        try {
          flash(await act(kind, ids));
        } catch (e) {
          flash(e.message, true);
        }
        refresh();
      },
    }, label);
  }

  function pager(total, start, state) {
    const nav = document.getElementById("pager");
    const link = (label, to) => h("a", { href: `?state=${enc(state)}&start=${to}` }, label);
    const last = Math.min(start + PAGE, total);
    nav.replaceChildren(
      start > 0 ? link("← previous", Math.max(0, start - PAGE)) : h("span", { class: "off" }, "← previous"),
      h("span", { class: "range" }, total ? `${number(start + 1)}–${number(last)} of ${number(total)}` : "none"),
      last < total ? link("next →", start + PAGE) : h("span", { class: "off" }, "next →"),
    );
  }

  function preview(job) {
    return h("code", { class: "preview", title: job.truncated ? `${number(job.payload_bytes)} bytes: open the job to see it all` : null },
      job.preview + (job.truncated ? " …" : ""));
  }

  // the task column shows only where the page lists jobs of typed tasks
  const taskCell = (job) => h("td", { class: "task" }, job.task === null ? "–" : h("code", {}, job.task));
  const showTasks = (jobs) => document.getElementById("jobs").classList.toggle("no-tasks", !jobs.some((j) => j.task !== null));

  const jobLink = (id) => h("a", { href: `${root}/job/${enc(queue)}?id=${id}` }, h("code", {}, id));

  // -- the pages -------------------------------------------------------------------------

  function queuesPage() {
    const tbody = document.querySelector("#queues tbody");
    const workers = document.getElementById("workers");
    const before = new Map();
    live(async () => {
      const data = await api("/api/queues");
      const t = performance.now() / 1000;
      const rates = [];
      const rows = data.queues.map((q) => {
        const last = before.get(q.name);
        before.set(q.name, [t, q.total]);
        const rate = last && t > last[0] ? (q.total - last[1]) / (t - last[0]) : null;
        rates.push(rate === null ? null : Math.round(rate));
        const href = `${root}/queue/${enc(q.name)}`;
        return h("tr", { "data-queue": q.name },
          h("td", {}, h("a", { href }, q.name)),
          h("td", { class: "n", "data-count": "ready" }, number(q.ready)),
          h("td", { class: "n", "data-count": "locked" }, number(q.locked)),
          h("td", { class: "n", "data-count": "delayed" }, number(q.delayed)),
          h("td", { class: q.dead ? "n dead" : "n", "data-count": "dead" },
            h("a", { href: `${root}/dead/${enc(q.name)}` }, number(q.dead))),
          h("td", { class: "n", "data-count": "total" }, number(q.total)),
          h("td", { class: "n" }, rate === null ? "–" : `${rate > 0 ? "+" : ""}${Math.round(rate).toLocaleString("en-US")}/s`),
          h("td", { class: q.workers ? "n" : "n none", "data-count": "workers" }, number(q.workers)),
        );
      });
      fill(tbody, JSON.stringify([data.queues, rates]), rows, "No queues yet: put a job in one.", 8);
      showWorkers(workers, data.workers, data.now);
    });
  }

  function showWorkers(box, list, now) {
    if (list.length === 0) {
      box.replaceChildren(h("p", { class: "empty" }, "No live workers."));
      return;
    }
    const count = (w, kind) => number(w.counts[kind] || 0);
    const heads = ["worker", "host", "pid", "queues", "running", "completed", "retried", "dead", "started", "last beat"];
    box.replaceChildren(h("table", { class: "grid", id: "worker-list" },
      h("thead", {}, h("tr", {}, ...heads.map((c, i) => h("th", { class: [2, 4, 5, 6, 7].includes(i) ? "n" : null }, c)))),
      h("tbody", {}, ...list.map((w) => h("tr", { "data-worker": w.id },
        h("td", {}, h("code", {}, w.id), w.stopping ? h("span", { class: "tag" }, "stopping") : null),
        h("td", {}, w.host),
        h("td", { class: "n" }, w.pid),
        h("td", {}, w.queues.join(", ")),
        h("td", { class: "n", "data-count": "running" }, `${number(w.running)} / ${number(w.concurrency)}`),
        h("td", { class: "n", "data-count": "complete" }, count(w, "complete")),
        h("td", { class: "n" }, count(w, "retry")),
        h("td", { class: "n" }, count(w, "dead")),
        h("td", {}, when(w.started_at, now)),
        h("td", {}, when(w.beat_at, now)),
      ))),
    ));
  }

  function queuePage() {
    const state = ["ready", "delayed", "locked"].includes(params.get("state")) ? params.get("state") : "ready";
    const start = Math.max(0, parseInt(params.get("start") || "0", 10) || 0);
    const tbody = document.querySelector("#jobs tbody");
    for (const tab of document.querySelectorAll("#tabs [data-state]")) {
      if (tab.dataset.state === state) tab.classList.add("active");
    }
    document.getElementById("at").textContent = { ready: "due", delayed: "due", locked: "lock expires" }[state];
    live(async () => {
      const data = await api(`/api/jobs/${enc(queue)}?state=${state}&start=${start}&count=${PAGE}`);
      for (const el of document.querySelectorAll("#counts [data-count]")) {
        el.textContent = number(data.counts[el.dataset.count]);
      }
      const rows = data.jobs.map((job) => h("tr", { "data-id": job.id },
        h("td", {}, jobLink(job.id)),
        taskCell(job),
        h("td", {}, preview(job)),
        h("td", { class: "n" }, number(job.deliveries)),
        h("td", {}, when(job.at, data.now)),
      ));
      showTasks(data.jobs);
      fill(tbody, JSON.stringify(data.jobs), rows, `No ${state} jobs.`, 5);
      retime(data.now);
      pager(data.total, start, state);
    });
  }

  function deadPage() {
    const start = Math.max(0, parseInt(params.get("start") || "0", 10) || 0);
    const tbody = document.querySelector("#jobs tbody");
    let refresh = () => {};
    if (actionsOn) {
      document.getElementById("requeue-all").replaceWith(actionButton("Requeue all", "requeue", null, null, () => refresh()));
      document.getElementById("delete-all").replaceWith(
        actionButton("Delete all", "delete", null, "Delete every dead letter of this queue for good?", () => refresh(), "danger"));
    } else {
      document.getElementById("all-actions").hidden = true;
      document.getElementById("actions-off").hidden = false;
    }
    refresh = live(async () => {
      const data = await api(`/api/jobs/${enc(queue)}?state=dead&start=${start}&count=${PAGE}`);
      document.getElementById("summary").textContent =
        `${number(data.total)} dead letter${data.total === 1 ? "" : "s"}, oldest first`;
      const rows = data.jobs.map((job) => h("tr", { "data-id": job.id },
        h("td", {}, jobLink(job.id)),
        taskCell(job),
        h("td", {}, preview(job)),
        h("td", { class: "n" }, number(job.deliveries)),
        h("td", {}, when(job.at, data.now)),
        h("td", { class: job.error === null ? "error none" : "error" }, job.error === null ? "–" : job.error),
        h("td", {}, actionsOn ? h("div", { class: "row-actions" },
          actionButton("Requeue", "requeue", [job.id], null, () => refresh()),
          actionButton("Delete", "delete", [job.id], "Delete this dead letter for good?", () => refresh(), "danger"),
        ) : null),
      ));
      showTasks(data.jobs);
      fill(tbody, JSON.stringify(data.jobs), rows, "No dead letters.", 7);
      retime(data.now);
      pager(data.total, start, "dead");
    });
  }

  function jobPage() {
    const id = body.dataset.job;
    const facts = document.getElementById("facts");
    const payload = document.getElementById("payload");
    let refresh = () => {};
    if (actionsOn) {
      document.getElementById("requeue-one").replaceWith(actionButton("Requeue", "requeue", [id], null, () => refresh()));
      document.getElementById("delete-one").replaceWith(
        actionButton("Delete", "delete", [id], "Delete this dead letter for good?", () => refresh(), "danger"));
    }
    // the time each state has, as queue.status() tells it
    const times = {
      waiting: ["due since", "due_at"],
      delayed: ["due", "due_at"],
      locked: ["lock expires", "lock_expires_at"],
      dead: ["died", "died_at"],
      completed: ["completed", "completed_at"],
    };
    refresh = live(async () => {
      const job = await api(`/api/job/${enc(queue)}?id=${enc(id)}`);
      const fact = (name, ...value) => [h("dt", {}, name), h("dd", {}, ...value)];
      const [timeLabel, timeField] = times[job.state] || [null, null];
      facts.replaceChildren(
        ...fact("queue", h("a", { href: `${root}/queue/${enc(queue)}` }, queue)),
        ...fact("state", h("span", { class: `state ${job.state || "gone"}`, id: "state" },
          job.state || "not in the queue (done without a kept result, deleted, or never put)")),
        ...(job.task ? fact("task", h("code", { id: "task" }, job.task)) : []),
        ...(job.state ? fact("deliveries", number(job.deliveries)) : []),
        ...(timeField && job[timeField] !== null ? fact(timeLabel, when(job[timeField], job.now)) : []),
        ...(job.last_error ? fact("last error", h("pre", { class: "error", id: "last-error" }, job.last_error)) : []),
      );
      document.getElementById("job-actions").hidden = !(actionsOn && job.state === "dead");
      document.getElementById("payload-title").textContent = job.state === "completed" ? "Result" : "Payload";
      const shown = job.state === "completed" ? job.result : job.payload;
      payload.textContent = shown === null ? "–" : shown;
    });
  }

  const pages = { queues: queuesPage, queue: queuePage, dead: deadPage, job: jobPage };
  if (pages[body.dataset.page]) pages[body.dataset.page]();
})();
