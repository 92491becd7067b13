import { Injectable, Logger, Optional } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';

type Next = () => void;

/**
 * ingest-gateway reads request bodies itself: an upload must be hashed and size-checked while it
 * streams in, byte for byte (a JSON upload re-serialised by a body parser would hash differently,
 * and body-parser's 100 kB default would refuse large ones before our size policy could).
 *
 * Nest's express adapter installs its `jsonParser`/`urlencodedParser` at `app.init()` only if no
 * middleware of that name is already in the router stack; this provider, constructed while the
 * app is being created (before init), registers pass-through middleware under those names so the
 * defaults are never installed in this service. Uploads are read by `UploadSpool`, JSON bodies by `readJsonBody`.
 */
@Injectable()
export class IngestBodyOwnership {
  constructor(@Optional() host?: HttpAdapterHost) {
    const adapter = host?.httpAdapter as { use?: (fn: (req: unknown, res: unknown, next: Next) => void) => unknown } | undefined;
    if (!adapter?.use) return;
    adapter.use(function jsonParser(_req: unknown, _res: unknown, next: Next) {
      next();
    });
    adapter.use(function urlencodedParser(_req: unknown, _res: unknown, next: Next) {
      next();
    });
    new Logger('IngestBodyOwnership').debug?.('default body parsers replaced: request bodies are streamed by the ingest controller');
  }
}
