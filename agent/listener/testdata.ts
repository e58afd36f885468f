// Hand-written events for the listener's tests, following shared/ves/NOTES.md §3.2 and §3.5 and the required
// fields of CommonEventFormat_30.2.1_ONAP.json (commonEventHeader) and _28.4.1.json (VES 5).

/** 2026-01-01T00:00:00Z in µs, on a 60 s heartbeat boundary. */
const START_US = 1_767_225_600_000_000;

/** A minimal VES 7.2.1 heartbeat event (the value of `event`); `n` makes eventId and sourceName distinct. */
export function heartbeat7(n = 1, domain = "heartbeat"): Record<string, unknown> {
  return {
    commonEventHeader: {
      domain,
      eventId: `heartbeat${String(n).padStart(10, "0")}`,
      eventName: "Heartbeat_Vesmon-Agent_Node",
      lastEpochMicrosec: START_US,
      priority: "Normal",
      reportingEntityName: "node-1",
      sequence: 0,
      sourceName: `node-${n}`,
      startEpochMicrosec: START_US,
      version: "4.1",
      vesEventListenerVersion: "7.2.1",
    },
    heartbeatFields: { heartbeatFieldsVersion: "3.0", heartbeatInterval: 60 },
  };
}

/** A minimal VES 5.4.1 heartbeat event: `version` is a number and there is no vesEventListenerVersion. */
export function heartbeat5(n = 1): Record<string, unknown> {
  return {
    commonEventHeader: {
      domain: "heartbeat",
      eventId: `heartbeat${String(n).padStart(10, "0")}`,
      eventName: "Heartbeat_Vesmon-Agent_Node",
      lastEpochMicrosec: START_US,
      priority: "Normal",
      reportingEntityName: "node-1",
      sequence: 0,
      sourceName: `node-${n}`,
      startEpochMicrosec: START_US,
      version: 3,
    },
  };
}
