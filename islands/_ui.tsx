/** Small pieces several islands render: the live dot, state badges, a copyable shell line. */
import type { KernelStatus } from "../lib/view/api_types.ts";
import { useState } from "preact/hooks";
import { stateClass } from "../lib/view/format.ts";
import { copyText, type StreamStatus } from "./_hooks.ts";

/** The stream indicator: live, reconnecting, or down (server render: "connecting"). */
export function LiveDot({ status }: { status: StreamStatus }) {
  const text = status === "live" ? "live" : status === "down" ? "offline" : "connecting";
  return (
    <span class={`live live-${status} js-only`} title={`Event stream: ${text}`}>
      <span class="live-dot" aria-hidden="true" />
      {text}
    </span>
  );
}

/** A socket state as a coloured badge, spelled as `ss` spells it. */
export function StateBadge({ state }: { state: string }) {
  return <span class={`badge ${stateClass(state)}`}>{state}</span>;
}

/** The kernel view's status when it is unavailable: visible, with the API's reason. */
export function KernelNotice({ kernel }: { kernel: KernelStatus }) {
  if (kernel.available || kernel.sampledAt === null && kernel.reason === "Not sampled yet") {
    return null;
  }
  return (
    <p class="banner warn" role="status" data-kernel-unavailable="">
      <strong>Kernel view unavailable:</strong> {kernel.reason ?? "unknown reason"}.{" "}
      Recv-Q and Send-Q show “—”; the process's own numbers (buffered bytes, byte counters) are
      still live.
    </p>
  );
}

/** A shell line with a copy button; the text can also be selected by hand. */
export function CopyLine({ text }: { text: string }) {
  const [done, setDone] = useState<"" | "copied" | "select it">("");
  const copy = async () => {
    setDone((await copyText(text)) ? "copied" : "select it");
    setTimeout(() => setDone(""), 1500);
  };
  return (
    <div class="copyline">
      <code class="mono cmd">{text}</code>
      <button
        type="button"
        class="btn btn-small js-only"
        onClick={copy}
        title="Copy to the clipboard"
      >
        {done || "copy"}
      </button>
    </div>
  );
}
