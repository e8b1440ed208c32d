// The system's browser libraries, which the gateway serves under /admin/vendor/ from Debian's packages
// (libjs-chart.js, libjs-codemirror): loaded on first use, once. When one is not installed the promise
// fails with what to install, and the page shows its numbers or a plain textarea instead.

const loaded = new Map();

function script(src) {
  if (!loaded.has(src)) {
    loaded.set(src, new Promise((resolve, reject) => {
      const element = document.createElement("script");
      element.src = src;
      element.onload = () => resolve();
      element.onerror = () => { loaded.delete(src); reject(new Error(`${src} did not load`)); };
      document.head.append(element);
    }));
  }
  return loaded.get(src);
}

function stylesheet(href) {
  if (document.querySelector(`link[href="${href}"]`)) return;
  const element = document.createElement("link");
  element.rel = "stylesheet";
  element.href = href;
  document.head.append(element);
}

/** Chart.js (window.Chart), or an error naming the package. */
export async function loadChart() {
  try {
    await script("vendor/chart.js/chart.min.js");
  } catch {
    throw new Error("Charts need Chart.js on the gateway's machine: install Debian's libjs-chart.js (scripts/install-deps does).");
  }
  if (!window.Chart) throw new Error("Chart.js loaded but did not define Chart.");
  return window.Chart;
}

/** CodeMirror 5 with its JavaScript/JSON mode (window.CodeMirror), or an error naming the package. */
export async function loadCodeMirror() {
  try {
    stylesheet("vendor/codemirror/codemirror.css");
    await script("vendor/codemirror/codemirror.js");
    await Promise.all([script("vendor/codemirror/javascript.js"), script("vendor/codemirror/matchbrackets.js"), script("vendor/codemirror/closebrackets.js")]);
  } catch {
    throw new Error("The code editor needs CodeMirror on the gateway's machine: install Debian's libjs-codemirror (scripts/install-deps does).");
  }
  return window.CodeMirror;
}
