// Progress on long steps, always on stderr so stdout stays parseable. A spinner when stderr is
// a terminal; plain lines ("hashing model.onnx ...", "hashing model.onnx: done in 1.2 s")
// otherwise, so logs and CI output stay readable.

export interface Progress {
  /** Starts a step (ends the previous one as done). */
  start(text: string): void;
  /** Changes the current step's text (spinner only; plain output stays quiet). */
  update(text: string): void;
  /** Ends the current step. */
  done(note?: string): void;
  fail(note?: string): void;
}

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

export interface ProgressOptions {
  stream?: NodeJS.WriteStream;
  quiet?: boolean;
  /** Force the spinner on or off (default: stream.isTTY). */
  tty?: boolean;
}

export function progress(options: ProgressOptions = {}): Progress {
  const stream = options.stream ?? process.stderr;
  if (options.quiet) return { start: () => undefined, update: () => undefined, done: () => undefined, fail: () => undefined };
  const tty = options.tty ?? stream.isTTY === true;
  let text: string | undefined;
  let started = 0;
  let timer: NodeJS.Timeout | undefined;
  let frame = 0;

  const elapsed = (): string => {
    const ms = performance.now() - started;
    return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
  };
  const clear = (): void => {
    if (tty) stream.write('\r\x1b[2K');
  };
  const draw = (): void => {
    if (text === undefined) return;
    clear();
    stream.write(`${FRAMES[frame++ % FRAMES.length]} ${text} (${elapsed()})`);
  };
  const finish = (ok: boolean, note?: string): void => {
    if (text === undefined) return;
    if (timer) clearInterval(timer);
    timer = undefined;
    const tail = note ? `: ${note}` : '';
    if (tty) {
      clear();
      stream.write(`${ok ? '✓' : '✗'} ${text}${tail} (${elapsed()})\n`);
    } else {
      stream.write(`${text}: ${ok ? 'done' : 'failed'}${tail} (${elapsed()})\n`);
    }
    text = undefined;
  };

  return {
    start(next: string) {
      finish(true);
      text = next;
      started = performance.now();
      if (tty) {
        draw();
        timer = setInterval(draw, 100);
        timer.unref();
      } else {
        stream.write(`${next} ...\n`);
      }
    },
    update(next: string) {
      // Plain output keeps the step's first text, so its "done" line matches its start line.
      if (text === undefined || !tty) return;
      text = next;
      draw();
    },
    done: (note?: string) => finish(true, note),
    fail: (note?: string) => finish(false, note),
  };
}
