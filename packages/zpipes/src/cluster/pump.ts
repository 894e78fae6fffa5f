/**
 * Runs a step that may trigger itself (a pipe callback firing while the
 * step sends or takes): a call during a round asks for one more round
 * instead of nesting, and rounds repeat until none was asked for or the
 * owner is done.
 */
export class Pump {
  #running = false;
  #again = false;

  constructor(
    private readonly step: () => void,
    private readonly done: () => boolean,
  ) {}

  run(): void {
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = true;
    try {
      do {
        this.#again = false;
        this.step();
      } while (this.#again && !this.done());
    } finally {
      this.#running = false;
    }
  }
}
