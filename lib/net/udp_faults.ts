/**
 * Faults of the UDP endpoint: what happens to its replies. `loss` drops a
 * share of them, `duplicate` sends a share twice, `reorder` holds up to a
 * window of them and sends them shuffled, `delay` holds each (± jitter).
 * The endpoint hands every reply to {@linkcode UdpFaultSwitch.reply} while a
 * fault is in force, with a function that sends a copy; nothing else changes.
 */
import type { UdpFault } from "../view/fault.ts";
import type { FaultTarget } from "./faults.ts";

/** Longest a reorder window holds a reply when fewer than `window` come. */
export const REORDER_FLUSH_MS = 100;
/** Replies held at once by delay or reorder; more are dropped and counted ("held-overflow"). */
export const MAX_HELD = 4096;

const NONE: UdpFault = Object.freeze({ mode: "none" });

/** Sends one copy of a reply. */
export type SendReply = (data: Uint8Array) => void;

/** The UDP endpoint's fault: what is in force, and the reply path that applies it. */
export class UdpFaultSwitch {
  /** The fault in force, or null: the one check the receive loop makes. */
  active: Exclude<UdpFault, { mode: "none" }> | null = null;
  #target: FaultTarget;
  #held: [Uint8Array, SendReply][] = [];
  #flushTimer: ReturnType<typeof setTimeout> | null = null;
  #timers = new Set<ReturnType<typeof setTimeout>>();

  /** Creates a switch with no fault, reporting into `target`. */
  constructor(target: FaultTarget) {
    this.#target = target;
    target.fault = NONE;
  }

  /** The fault in force (`none` when cleared). */
  get fault(): UdpFault {
    return this.active ?? NONE;
  }

  /** Switches to `fault`; replies a reorder window holds go out at once. */
  set(fault: UdpFault): void {
    this.active = fault.mode === "none" ? null : fault;
    this.#target.fault = fault.mode === "none" ? NONE : fault;
    this.#flush();
  }

  /** Applies the fault in force to one reply (`data` must stay unchanged: it may be held). */
  reply(data: Uint8Array, send: SendReply): void {
    const fault = this.active;
    switch (fault?.mode) {
      case undefined:
        return send(data);
      case "loss":
        if (Math.random() * 100 < fault.percent) return this.#count("loss");
        return send(data);
      case "duplicate":
        send(data);
        if (Math.random() * 100 < fault.percent) {
          this.#count("duplicate");
          send(data);
        }
        return;
      case "reorder": {
        if (this.#heldCount() >= MAX_HELD) return this.#count("held-overflow");
        this.#count("reorder");
        this.#held.push([data, send]);
        if (this.#held.length >= fault.window) this.#flush();
        else this.#flushTimer ??= setTimeout(() => this.#flush(), REORDER_FLUSH_MS);
        return;
      }
      case "delay": {
        if (this.#heldCount() >= MAX_HELD) return this.#count("held-overflow");
        this.#count("delay");
        const jitter = fault.jitter ? (Math.random() * 2 - 1) * fault.jitter : 0;
        const timer = setTimeout(() => {
          this.#timers.delete(timer);
          send(data);
        }, Math.max(0, fault.ms + jitter));
        this.#timers.add(timer);
        return;
      }
      default: {
        const unreachable: never = fault;
        throw new TypeError(`Unknown UDP fault: ${JSON.stringify(unreachable)}`);
      }
    }
  }

  /** Drops what is held (the endpoint is closing). */
  dispose(): void {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    if (this.#flushTimer !== null) clearTimeout(this.#flushTimer);
    this.#flushTimer = null;
    this.#held = [];
  }

  #heldCount(): number {
    return this.#held.length + this.#timers.size;
  }

  /** Sends the held window shuffled; never in the order it came when it holds two or more. */
  #flush(): void {
    if (this.#flushTimer !== null) clearTimeout(this.#flushTimer);
    this.#flushTimer = null;
    const held = this.#held;
    this.#held = [];
    const order = held.map((_, i) => i);
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    if (order.every((v, i) => v === i)) order.reverse();
    for (const i of order) held[i][1](held[i][0]);
  }

  #count(mode: string): void {
    const faults = this.#target.faults;
    faults[mode] = (faults[mode] ?? 0) + 1;
  }
}
