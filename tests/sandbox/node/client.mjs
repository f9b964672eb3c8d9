// Drives the LiveKit sandbox with LiveKit's official Node server SDK (livekit-server-sdk),
// unmodified, and prints ONE JSON object with what it saw on stdout.
//
// Env: LIVEKIT_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET, CALLER_ROOM (the room the sandbox
// placed the inbound caller in). Run by tests/sandbox/test_node_sdk.py.
import { RoomServiceClient, SipClient } from "livekit-server-sdk";

const url = process.env.LIVEKIT_URL;
const apiKey = process.env.LIVEKIT_API_KEY;
const apiSecret = process.env.LIVEKIT_API_SECRET;
const callerRoom = process.env.CALLER_ROOM;
if (!url || !apiKey || !apiSecret || !callerRoom) {
  console.error("LIVEKIT_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET and CALLER_ROOM are required");
  process.exit(2);
}

// Observe (never alter) what the SDK puts on the wire: it calls the global fetch.
const wire = [];
const realFetch = globalThis.fetch;
globalThis.fetch = async (input, init = {}) => {
  const headers = new Headers(init.headers ?? {});
  const response = await realFetch(input, init);
  wire.push({
    method: init.method ?? "GET",
    path: new URL(input instanceof Request ? input.url : String(input)).pathname,
    content_type: headers.get("content-type"),
    user_agent: headers.get("user-agent"),
    has_request_id: headers.has("x-livekit-request-id"),
    status: response.status,
    response_content_type: response.headers.get("content-type"),
  });
  return response;
};

const participant = (p) => ({
  identity: p.identity,
  kind: p.toJson().kind ?? null,
  attributes: { ...p.attributes },
});

const rooms = new RoomServiceClient(url, apiKey, apiSecret);
const sip = new SipClient(url, apiKey, apiSecret);
const out = {};

// Long timeouts (sandbox seconds), so the emptied room is still there to delete at the end.
const roomOptions = { name: "consult", emptyTimeout: 86400, departureTimeout: 86400 };
const first = await rooms.createRoom(roomOptions);
const second = await rooms.createRoom(roomOptions);
out.create_room = { name: first.name, sid: first.sid, second_sid: second.sid };

out.list_rooms = (await rooms.listRooms()).map((r) => r.name).sort();

const dialed = await sip.createSipParticipant("ST_sandbox", "+15105550100", "consult", {
  participantIdentity: "sup-1",
  fromNumber: "+14155552671",
  waitUntilAnswered: true,
});
out.create_sip_participant = {
  participant_identity: dialed.participantIdentity,
  participant_id: dialed.participantId,
  room_name: dialed.roomName,
  sip_call_id: dialed.sipCallId,
};

out.consult_participants = (await rooms.listParticipants("consult")).map(participant);

const updated = await rooms.updateParticipant("consult", "sup-1", {
  attributes: { "transfer.state": "held" },
});
out.update_participant = participant(updated);

await rooms.moveParticipant("consult", "sup-1", callerRoom);
out.caller_room_participants = (await rooms.listParticipants(callerRoom)).map(participant);
out.consult_after_move = (await rooms.listParticipants("consult")).map(participant);

try {
  await sip.createSipParticipant("ST_sandbox", "+15105550101", "consult", {
    participantIdentity: "sup-2",
    fromNumber: "+14155552671",
    waitUntilAnswered: true,
  });
  out.busy = { error: null };
} catch (e) {
  out.busy = {
    error: e.name,
    code: e.code ?? null,
    status: e.status ?? null,
    metadata: e.metadata ?? null,
    sip_status_code: e.sipStatusCode ?? null,
    message: e.message,
  };
}

await rooms.deleteRoom("consult");
out.rooms_after_delete = (await rooms.listRooms()).map((r) => r.name).sort();

out.wire = wire;
process.stdout.write(JSON.stringify(out) + "\n");
