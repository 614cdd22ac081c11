import { isCaptureFileName } from "../../../lib/capture/capture_files.ts";
import { define, jsonError } from "../../../lib/web/define.ts";
import { ParamError } from "../../../lib/web/params.ts";

/** One capture file from `--capture-dir`, by the name `GET /api/captures` lists. */
export const handler = define.handlers({
  async GET({ params, state }) {
    const files = state.service.captureFiles;
    const name = params.name;
    // Only names the writer gives: no separators, no "..", nothing outside the directory.
    if (!isCaptureFileName(name)) {
      throw new ParamError(`Cannot parse path: not a capture file name: "${name}"`);
    }
    if (files === null) return jsonError(404, "No capture files: started without --capture-dir");
    // Only a file the writer created (or found at start) and listed, still the plain file it was.
    const opened = await files.open(name);
    if (opened.refused !== undefined) {
      return opened.refused === "unknown"
        ? jsonError(404, `No capture file "${name}"`)
        : jsonError(403, `Cannot serve capture file "${name}": it is not a plain file`);
    }
    const { file, size } = opened;
    return new Response(file.readable, {
      headers: {
        "content-type": "application/x-pcapng",
        "content-disposition": `attachment; filename="${name}"`,
        "content-length": String(size),
      },
    });
  },
});
