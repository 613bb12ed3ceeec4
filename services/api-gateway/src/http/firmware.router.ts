// /api/v1/firmware: the firmware registry of the ota-orchestrator over REST. An image comes as
// multipart/form-data (text fields + the `image` file part), streamed straight into the JetStream
// Object Store bucket of uploads, then registered by RPC `register_firmware` naming the object;
// or as JSON with a `url` the orchestrator downloads from. The orchestrator checks SHA-256, size
// and signature and deletes the upload object once it has handled it.
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import multipart from '@fastify/multipart';
import { Type } from '@sinclair/typebox';
import { type Bus, ensureStoreReplicas, rpcRequest } from '@drover/bus';
import {
  FIRMWARE_MAX_SIZE,
  FIRMWARE_SERVICE,
  FIRMWARE_UPLOAD_BUCKET,
  Firmware,
  FirmwareDeclaration,
  FirmwareList,
  FirmwareOps,
  type FirmwareUpload,
  ListFirmwareRequest,
} from '@drover/contracts';
import { PayloadTooLargeError, UnavailableError, ValidationError } from '@drover/service-kit';
import { type FastifyRequest } from 'fastify';
import { type ObjectStore, nanos } from 'nats';
import { principalOf } from '../auth/auth.hook';
import { FIRMWARE_IMAGE_FIELD, addFormField, declarationFromForm } from '../domain/firmware-form';
import { type ContextRouter } from './router.types';
import { MutationHeaders, responses } from './schemas';

const tags = ['firmware'];
const ID = '^[A-Za-z0-9_-]{1,64}$';

/** How long the orchestrator may take to copy, hash and verify an image. */
export const REGISTER_TIMEOUT_MS = 300_000;
/** Uploads the orchestrator never picked up (it crashed, the gateway died) expire after this. */
export const UPLOAD_TTL_MS = 24 * 3600_000;

/** `POST /firmware` JSON body: the declaration and the URL of the image. */
export const RegisterFirmwareJsonBody = Type.Object(
  {
    ...FirmwareDeclaration.properties,
    hardware_models: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 128 }), {
        maxItems: 256,
        uniqueItems: true,
        default: [],
        description: 'hardware models the image runs on (empty or absent: every model of the type)',
      }),
    ),
    url: Type.String({
      minLength: 1,
      maxLength: 2048,
      pattern: '^https?://',
      description: 'http(s) URL the orchestrator downloads the image from',
    }),
  },
  { additionalProperties: false },
);

/** `GET /firmware` query. */
export const ListFirmwareQuery = Type.Omit(ListFirmwareRequest, ['tenant'], {
  additionalProperties: false,
});

const FirmwareIdParams = Type.Object({
  id: Type.String({ pattern: ID, description: 'firmware id' }),
});

/** Opens (creating on first use) the namespaced upload bucket. */
function uploadBucket(bus: Bus): () => Promise<{ name: string; store: ObjectStore }> {
  const name = bus.naming.stream(FIRMWARE_UPLOAD_BUCKET);
  let opened: Promise<ObjectStore> | null = null;
  return async () => {
    opened ??= (async () => {
      const store = await bus.js.views.os(name, {
        ttl: nanos(UPLOAD_TTL_MS),
        ...(bus.replicas !== undefined && { replicas: bus.replicas }),
      });
      await ensureStoreReplicas(bus, 'os', name);
      return store;
    })().catch((err: unknown) => {
      opened = null;
      throw new UnavailableError('upload_store_unavailable', 'the firmware upload store failed', {
        cause: err,
      });
    });
    return { name, store: await opened };
  };
}

/**
 * Reads a multipart upload: the text fields into the declaration and the `image` part streamed
 * into the object store. Returns the declaration and where the image is.
 */
async function receiveForm(
  request: FastifyRequest,
  tenant: string,
  bucket: () => Promise<{ name: string; store: ObjectStore }>,
): Promise<{ declaration: FirmwareDeclaration; upload: FirmwareUpload }> {
  const fields = new Map<string, string[]>();
  let upload: FirmwareUpload | null = null;
  let store: ObjectStore | null = null;
  try {
    const parts = request.parts({
      limits: { files: 1, fields: 300, fieldSize: 1024 * 1024, fileSize: FIRMWARE_MAX_SIZE },
    });
    for await (const part of parts) {
      if (part.type === 'field') {
        addFormField(fields, part.fieldname, String(part.value));
        continue;
      }
      if (part.fieldname !== FIRMWARE_IMAGE_FIELD) {
        part.file.resume();
        throw new ValidationError(
          'validation_failed',
          `the image goes in the file part "${FIRMWARE_IMAGE_FIELD}", not "${part.fieldname}"`,
        );
      }
      const opened = await bucket();
      store = opened.store;
      const name = `${tenant}/${randomUUID()}`;
      upload = { bucket: opened.name, name };
      await store.put(
        { name, description: `firmware upload of ${tenant}` },
        Readable.toWeb(part.file) as ReadableStream<Uint8Array>,
      );
      if (part.file.truncated) {
        throw new PayloadTooLargeError(
          'firmware_too_large',
          `the image is larger than ${FIRMWARE_MAX_SIZE} bytes`,
        );
      }
    }
    if (!upload) {
      throw new ValidationError(
        'validation_failed',
        `no image: send it as the file part "${FIRMWARE_IMAGE_FIELD}" (or JSON with a url)`,
      );
    }
    return { declaration: declarationFromForm(fields), upload };
  } catch (err) {
    if (store && upload) await deleteUpload(store, upload.name, request);
    throw mapMultipartError(err);
  }
}

async function deleteUpload(store: ObjectStore, name: string, request: FastifyRequest) {
  try {
    await store.delete(name);
  } catch (err) {
    // The bucket's TTL removes it later; the request's own error matters more.
    request.log.warn({ event: 'firmware.upload_cleanup_failed', err, name }, 'upload left behind');
  }
}

/** @fastify/multipart limit errors as the API's 4xx. */
function mapMultipartError(err: unknown): unknown {
  const code = (err as { code?: unknown }).code;
  if (code === 'FST_REQ_FILE_TOO_LARGE') {
    return new PayloadTooLargeError(
      'firmware_too_large',
      `the image is larger than ${FIRMWARE_MAX_SIZE} bytes`,
    );
  }
  if (code === 'FST_FILES_LIMIT_REACHED') {
    return new ValidationError('validation_failed', 'send exactly one file part (image)');
  }
  if (code === 'FST_PARTS_LIMIT_REACHED' || code === 'FST_FIELDS_LIMIT_REACHED') {
    return new ValidationError('validation_failed', 'too many form fields');
  }
  if (code === 'FST_INVALID_MULTIPART_CONTENT_TYPE') {
    return new ValidationError('validation_failed', 'expected multipart/form-data');
  }
  return err;
}

/** Firmware routes. */
export const firmwareRouter: ContextRouter = {
  name: 'firmware',
  // Not a readiness dependency of the gateway: devices work without the orchestrator.
  services: [],
  plugin: async (app, { bus }) => {
    // Scoped to this plugin: only the firmware routes accept multipart bodies.
    await app.register(multipart, { limits: { fileSize: FIRMWARE_MAX_SIZE } });
    // An upload answered before its body was read (401/403, a refused form) would leave the
    // client writing into a socket nobody reads: close the connection with the answer.
    app.addHook('onSend', async (request, reply, payload) => {
      if (!request.raw.readableEnded && request.isMultipart()) reply.header('connection', 'close');
      return payload;
    });
    const bucket = uploadBucket(bus);
    const call = <T>(
      op: string,
      body: Record<string, unknown>,
      correlationId: string,
      ms?: number,
    ) => rpcRequest<T>(bus, FIRMWARE_SERVICE, op, body, { correlationId, timeoutMs: ms });

    app.post(
      '/firmware',
      {
        config: { scope: 'firmware:write' as const },
        schema: {
          headers: MutationHeaders,
          tags,
          summary: 'Register a firmware image (multipart with the image, or JSON with a url)',
          description:
            'multipart/form-data: the declaration as text fields (`version`, `device_type`, ' +
            '`hardware_models` repeated or comma separated, `sha256`, `size`, `signature`, ' +
            '`signature_alg`, `key_id`, optional `sigstore_bundle` JSON) and the file part ' +
            '`image`. application/json: the same fields plus `url`. The image must match ' +
            'sha256 and size, and the ed25519 signature over it must verify with the trusted ' +
            'key `key_id`.',
          body: { content: { 'application/json': { schema: RegisterFirmwareJsonBody } } },
          response: responses({ 201: Firmware }, [404, 409, 413]),
        },
      },
      async (request, reply) => {
        const { tenant } = principalOf(request);
        let rpcBody: Record<string, unknown>;
        let upload: FirmwareUpload | null = null;
        if (request.isMultipart()) {
          const form = await receiveForm(request, tenant, bucket);
          upload = form.upload;
          rpcBody = { ...form.declaration, tenant, upload };
        } else {
          const body = request.body as Record<string, unknown> | undefined;
          if (!body || typeof body.url !== 'string') {
            throw new ValidationError(
              'validation_failed',
              'send the image as multipart/form-data (file part "image") or JSON with a url',
            );
          }
          rpcBody = { ...body, tenant };
        }
        let firmware: Firmware;
        try {
          firmware = await call<Firmware>(
            FirmwareOps.registerFirmware,
            rpcBody,
            request.id,
            REGISTER_TIMEOUT_MS,
          );
        } catch (err) {
          // Nobody took the request: the orchestrator will never delete the upload.
          const code = (err as { code?: unknown }).code;
          if (upload && err instanceof UnavailableError && code === 'service_unavailable') {
            const { store } = await bucket();
            if (!/timed out/.test(err.detail)) await deleteUpload(store, upload.name, request);
          }
          throw err;
        }
        return reply
          .code(201)
          .header('location', `/api/v1/firmware/${firmware.firmware_id}`)
          .send(firmware);
      },
    );

    app.get(
      '/firmware',
      {
        config: { scope: 'firmware:read' as const },
        schema: {
          tags,
          summary: 'Registered firmware, newest first',
          querystring: ListFirmwareQuery,
          response: responses({ 200: FirmwareList }),
        },
      },
      async (request) => {
        const { tenant } = principalOf(request);
        return call<FirmwareList>(
          FirmwareOps.listFirmware,
          { ...request.query, tenant },
          request.id,
        );
      },
    );

    app.get(
      '/firmware/:id',
      {
        config: { scope: 'firmware:read' as const },
        schema: {
          tags,
          summary: 'One firmware image',
          params: FirmwareIdParams,
          response: responses({ 200: Firmware }, [404]),
        },
      },
      async (request) => {
        const { tenant } = principalOf(request);
        return call<Firmware>(
          FirmwareOps.getFirmware,
          { tenant, firmware_id: request.params.id },
          request.id,
        );
      },
    );
  },
};
