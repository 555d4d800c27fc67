// Run by bench/dashboard_paint.py inside the dashboard page: synthetic live frames, frame gaps, long tasks.
async ([rate, seconds]) => {
  const ids = Object.keys(window.PGDashboard.rows).map(Number);
  const gaps = [], longTasks = [];
  new PerformanceObserver(l => l.getEntries().forEach(e => longTasks.push(e.duration))).observe({entryTypes: ["longtask"]});
  let last = performance.now(), running = true;
  const frame = t => { gaps.push(t - last); last = t; if (running) requestAnimationFrame(frame); };
  requestAnimationFrame(frame);
  const words = ["up", "down", "degraded"];
  let sent = 0, pingId = 1e9;
  const start = performance.now();
  await new Promise(done => {
    const tick = setInterval(() => {
      const due = Math.floor((performance.now() - start) / 1000 * rate);
      while (sent < due) {
        const id = ids[sent % ids.length], now = new Date().toISOString();
        window.PGDashboard.onMessage({type: "update",
          ping: {id: pingId++, server: id, status: "success", response_time: 20 + (sent % 50), check_timestamp: now},
          status: {server: id, status: words[sent % 3], uptime_percentage: 99.1, last_check: now,
                   last_response_time: 20 + (sent % 50), message: ""}});
        sent++;
      }
      if (performance.now() - start >= seconds * 1000) { clearInterval(tick); done(); }
    }, 5);
  });
  // A click on a link during the load: time from the event to the next painted frame.
  const link = document.querySelector("tr[data-server-id] a");
  link.addEventListener("click", e => e.preventDefault(), {once: true});
  const clickStart = performance.now();
  link.click();
  const clickToFrame = await new Promise(r => requestAnimationFrame(() => r(performance.now() - clickStart)));
  running = false;
  gaps.sort((a, b) => a - b);
  return {sent, frames: gaps.length, gap_p50: gaps[Math.floor(gaps.length * 0.5)], gap_p99: gaps[Math.floor(gaps.length * 0.99)],
          gap_max: gaps[gaps.length - 1], long_tasks: longTasks.length, long_task_max: Math.max(0, ...longTasks), click_to_frame: clickToFrame};
}
