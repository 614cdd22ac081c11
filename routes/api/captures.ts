import { define, json } from "../../lib/web/define.ts";

/** The capture's state and, with `--capture-dir`, its files on disk (earlier runs' too). */
export const handler = define.handlers({
  GET({ state }) {
    const { capture, captureFiles: files } = state.service;
    return json({
      capture: capture?.stats() ?? null,
      dir: files?.dir ?? null,
      rotation: files === null
        ? null
        : { fileBytes: files.fileBytes, fileSeconds: files.fileSeconds, files: files.files },
      gapRecords: files?.gapRecords ?? 0,
      writeErrors: files?.errors ?? 0,
      lastError: files?.lastError ?? null,
      files: files?.list() ?? [],
    });
  },
});
