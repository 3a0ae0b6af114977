// What jsdom lacks and JupyterLab's packages use when they load or build
// widgets.

// @lumino/dragdrop subclasses DragEvent when it loads.
if (typeof globalThis.DragEvent === 'undefined' && typeof globalThis.MouseEvent !== 'undefined') {
  globalThis.DragEvent = class DragEvent extends globalThis.MouseEvent {};
}

if (typeof window !== 'undefined') {
  // @microsoft/fast-foundation (under @jupyterlab/ui-components) asks for
  // the colour scheme when it loads.
  window.matchMedia ??= media => ({
    matches: false,
    media,
    onchange: null,
    addListener() {},
    removeListener() {},
    addEventListener() {},
    removeEventListener() {},
    dispatchEvent: () => false
  });
  // A MainAreaWidget's toolbar watches its size, and renders when the page is idle.
  window.ResizeObserver ??= class ResizeObserver {
    observe() {}
    unobserve() {}
    disconnect() {}
  };
  window.requestIdleCallback ??= callback =>
    window.setTimeout(() => callback({ didTimeout: false, timeRemaining: () => 0 }), 0);
  window.cancelIdleCallback ??= handle => window.clearTimeout(handle);
  // @jupyterlab/apputils warns when it loads without a system clipboard.
  if (!navigator.clipboard) {
    Object.defineProperty(navigator, 'clipboard', {
      value: { readText: async () => '', writeText: async () => undefined },
      configurable: true
    });
  }
}
