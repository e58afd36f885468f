import Type from "typebox";
import { ByteSize, celBytes, DnsLabel, Duration, SecretKeyRef, Struct } from "./common.ts";

const URL_PATTERN = "^https?://[^\\s/?#]+(/[^\\s?#]*)?$";

/** TLS settings of a VES sink; verification is on unless switched off explicitly. */
export const TlsSettings = Struct(
  {
    insecureSkipVerify: Type.Optional(
      Type.Boolean({
        description: "Skip verification of the collector's certificate. Only for tests; never the default.",
        default: false,
      }),
    ),
    caSecretRef: Type.Optional(
      SecretKeyRef(
        "CaSecretRef",
        "Secret holding the CA bundle that signs the collector's certificate; the system CAs otherwise.",
        {
          key: "ca.crt",
        },
      ),
    ),
    clientCertificateSecretRef: Type.Optional(
      SecretKeyRef(
        "ClientCertificateSecretRef",
        "Secret holding the client certificate and key for mutual TLS.",
        {
          certKey: "tls.crt",
          keyKey: "tls.key",
        },
      ),
    ),
  },
  {
    title: "TlsSettings",
    description: "TLS towards the VES collector.",
    rules: [
      {
        rule: "!(has(self.insecureSkipVerify) && self.insecureSkipVerify && has(self.caSecretRef))",
        message: "caSecretRef has no effect when insecureSkipVerify is true; set one or the other",
        fieldPath: ".caSecretRef",
      },
    ],
  },
);

/** A VES event listener (collector), with failover, retry, batching and a durable buffer. */
export const VesSink = Struct(
  {
    url: Type.String({
      description:
        "Base URL of the VES collector, e.g. `https://ves.example:8443`; `/eventListener/v7` (or `v5`) and `/eventBatch` are appended.",
      pattern: URL_PATTERN,
      maxLength: 2048,
    }),
    backupUrl: Type.Optional(
      Type.String({
        description: "Base URL of the standby collector, used while the primary fails.",
        pattern: URL_PATTERN,
        maxLength: 2048,
      }),
    ),
    fallbackInterval: Type.Optional(
      Duration({
        description: "While on the backup, how often the primary is tried again.",
        default: "5m",
        min: "10s",
        max: "1h",
      }),
    ),
    credentialsSecretRef: Type.Optional(
      SecretKeyRef(
        "BasicAuthSecretRef",
        "Secret with the HTTP basic-auth user name and password; the operator copies it to the agents, which read files.",
        { usernameKey: "username", passwordKey: "password" },
      ),
    ),
    tls: Type.Optional(TlsSettings),
    timeout: Type.Optional(
      Duration({
        description:
          "Time allowed for one request, after which it is retried. Below `events.heartbeatInterval`.",
        default: "5s",
        min: "100ms",
        max: "1m",
      }),
    ),
    batch: Type.Optional(
      Struct(
        {
          maxEvents: Type.Optional(
            Type.Integer({
              description: "Events per `eventBatch` request; 1 posts each event on its own.",
              default: 100,
              minimum: 1,
              maximum: 1000,
            }),
          ),
          maxBytes: Type.Optional(
            ByteSize({ description: "Bytes per request body.", default: "1Mi", min: "4Ki", max: "1Mi" }),
          ),
        },
        {
          title: "BatchSettings",
          default: {},
          description: "How events are grouped into requests (one domain per batch).",
        },
      ),
    ),
    buffer: Type.Optional(
      Struct(
        {
          maxBytes: Type.Optional(
            ByteSize({
              description:
                "Size of the durable on-disk spool; the oldest events are dropped and counted beyond it.",
              default: "64Mi",
              min: "256Ki",
              max: "100Gi",
            }),
          ),
          maxAge: Type.Optional(
            Duration({
              description:
                "Age after which spooled events are dropped and counted. ONAP asks for at least 1h.",
              default: "1h",
              min: "1m",
              max: "168h",
            }),
          ),
        },
        {
          title: "BufferSettings",
          default: {},
          description: "The durable spool that keeps events while the collector is away.",
        },
      ),
    ),
    retry: Type.Optional(
      Struct(
        {
          initialBackoff: Type.Optional(
            Duration({
              description: "First wait after a failed attempt.",
              default: "1s",
              min: "10ms",
              max: "1m",
            }),
          ),
          maxBackoff: Type.Optional(
            Duration({
              description: "Cap of the exponential, jittered backoff.",
              default: "1m",
              min: "100ms",
              max: "1h",
            }),
          ),
        },
        {
          title: "RetrySettings",
          default: {},
          description: "Backoff between attempts on timeouts, connection errors, 5xx and 429.",
          rules: [
            {
              rule: "duration(self.initialBackoff) <= duration(self.maxBackoff)",
              message: "initialBackoff must not exceed maxBackoff",
              fieldPath: ".initialBackoff",
            },
          ],
        },
      ),
    ),
  },
  {
    title: "VesSink",
    description: "Delivery to a VES event listener.",
    rules: [
      {
        rule: "!has(self.backupUrl) || self.backupUrl != self.url",
        message: "backupUrl must differ from url",
        fieldPath: ".backupUrl",
      },
      {
        rule: "!has(self.tls) || (self.url.startsWith('https://') && (!has(self.backupUrl) || self.backupUrl.startsWith('https://')))",
        message: "tls settings need https:// URLs",
        fieldPath: ".tls",
      },
      {
        rule: `${celBytes("self.buffer.maxBytes")} >= ${celBytes("self.batch.maxBytes")}`,
        message: "buffer.maxBytes must be at least batch.maxBytes",
        fieldPath: ".buffer.maxBytes",
      },
    ],
  },
);

/** Exposes the profile's measurements on the agent's `/metrics`. */
export const PrometheusSink = Struct(
  {},
  {
    title: "PrometheusSink",
    description:
      "Expose this profile's measurements on the agent's /metrics endpoint, with KubeVirt-like names.",
  },
);

/** Writes events as JSON lines on the agent's standard output. */
export const StdoutSink = Struct(
  {
    pretty: Type.Optional(
      Type.Boolean({
        description: "Indent each event over several lines instead of one line each.",
        default: false,
      }),
    ),
  },
  { title: "StdoutSink", description: "Write each event as one JSON line on standard output." },
);

/** One entry of `spec.sinks`: a name and exactly one kind. */
export const SinkSpec = Struct(
  {
    name: DnsLabel({ description: "Name of the sink, unique in the profile; status reports it." }),
    ves: Type.Optional(VesSink),
    prometheus: Type.Optional(PrometheusSink),
    stdout: Type.Optional(StdoutSink),
  },
  {
    title: "SinkSpec",
    description: "Where the profile's events go. Exactly one of ves, prometheus and stdout.",
    rules: [
      {
        rule: "[has(self.ves), has(self.prometheus), has(self.stdout)].filter(k, k).size() == 1",
        message: "a sink must set exactly one of ves, prometheus, stdout",
      },
    ],
  },
);
