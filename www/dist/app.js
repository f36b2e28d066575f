// The live room: a chat and a shared canvas among every client of one jsocket server. Room
// messages travel as the server's control message {"$jsocket": "broadcast", "message": m},
// which delivers {"$jsocket": "broadcast", "from": id, "message": m} to every client (this page
// too), `id` being the sender's connection as the server names it (no sender can choose it),
// so the default echo server is enough. Round trips are measured with echo requests;
// statistics come from the core (this connection) and from the server ({"$jsocket": "stats"},
// and {"$jsocket": "clients"}, which a server answers only on its own machine or with its
// control token).

import { JsonSocket } from 'jsocket-wasm';
import { CanvasView, RttChart } from './draw.js';
import { $, colorFor, formatBytes, formatDuration, formatMs, isObject } from './util.js';

const ROOM = 'jsocket-exhibit';
const PING_EVERY_MS = 1000;
const STATS_EVERY_MS = 2000;
const MAX_LOG = 200;
const MAX_CLIENT_ROWS = 12;

const params = new URLSearchParams(location.search);
const name = pickName();
const color = colorFor(name);
const wsUrl = params.get('ws') ?? `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/`;

let socket = null;
let chatSeq = 0;
/** Chat ids sent by this page and not yet back, with the time they left. */
const inFlight = new Map();
/** Echo requests not yet answered: sequence number → time sent. */
const pings = new Map();
let pingSeq = 0;
const rtts = [];
let rttMin = Infinity;
let rttSum = 0;
let rttCount = 0;
let warnedNoRelay = false;
/** Whether the server lists its clients to this page (it may keep that to its own machine). */
let clientsShown = true;

const canvas = new CanvasView($('#canvas'), (x, y) => post('dot', { x, y }));
const rttChart = new RttChart($('#rtt-chart'));

function pickName() {
  const given = params.get('name') ?? sessionStorage.getItem('jsocket-exhibit-name');
  const chosen = (given || `kiosk-${Math.random().toString(36).slice(2, 6)}`).slice(0, 32);
  sessionStorage.setItem('jsocket-exhibit-name', chosen);
  return chosen;
}

/** Sends m to the whole room; false if the connection is down. */
function post(kind, fields = {}) {
  if (!socket?.isOpen) return false;
  const last = rtts.length > 0 ? rtts[rtts.length - 1] : null;
  const message = { room: ROOM, kind, from: name, color, rtt: last, ...fields };
  socket.send({ $jsocket: 'broadcast', message });
  return true;
}

/** Every message, whichever way it arrived (a request's reply or `onmessage`). */
function route(value) {
  if (!isObject(value)) return;
  if (typeof value.ping === 'number' && value.client === name) {
    const sent = pings.get(value.ping);
    if (sent !== undefined) {
      pings.delete(value.ping);
      recordRtt(performance.now() - sent);
    }
  } else if (value.$jsocket === 'broadcast' && Number.isSafeInteger(value.from)) {
    // A room message in the server's envelope: `from` is the sender's connection id.
    const m = value.message;
    if (isObject(m) && m.room === ROOM && typeof m.from === 'string') roomMessage({ ...m, sender: value.from });
  } else if (value.$jsocket === 'stats' && value.scope === 'server') {
    showServer(value);
  } else if (value.$jsocket === 'clients' && Array.isArray(value.clients)) {
    showClients(value.clients);
  } else if (value.$jsocket === 'error') {
    if (/control token/.test(String(value.error)) && clientsShown) {
      // Per-client detail is the server's own machine's (or the token holder's) to see.
      clientsShown = false;
      showClients([]);
    }
    console.warn('server:', value.error);
  } else if (value.$jsocket === 'broadcast' && !warnedNoRelay) {
    // Our own control message came back as it was: the server hands control messages to its
    // handler (`--no-control`), so nothing is relayed.
    warnedNoRelay = true;
    logLine(
      { from: 'server', kind: 'note', color: '#b83232' },
      { text: 'does not relay room messages here (its control messages are off): you are alone', note: true },
    );
  }
}

function roomMessage(m) {
  const from = m.from.slice(0, 32);
  const mine = from === name;
  switch (m.kind) {
    case 'dot':
      if (Number.isFinite(m.x) && Number.isFinite(m.y)) canvas.dot(from, m.x, m.y, safeColor(m.color, from));
      break;
    case 'chat': {
      if (typeof m.text !== 'string') return;
      let rtt = null;
      if (mine && inFlight.has(m.id)) {
        rtt = performance.now() - inFlight.get(m.id);
        inFlight.delete(m.id);
      }
      logLine(m, { text: m.text.slice(0, 500), rtt, theirRtt: mine ? null : m.rtt });
      break;
    }
    case 'join':
      logLine(m, { text: 'joined the room', note: true, theirRtt: mine ? null : m.rtt });
      break;
    case 'leave':
      logLine(m, { text: 'left', note: true });
      break;
    default:
      break;
  }
}

function safeColor(value, from) {
  return typeof value === 'string' && /^(#[0-9a-f]{3,8}|hsl\([\d.% ,]+\))$/i.test(value) ? value : colorFor(from);
}

function logLine(m, { text, rtt = null, theirRtt = null, note = false }) {
  const from = m.from.slice(0, 32);
  const li = document.createElement('li');
  li.className = `msg${note ? ' note' : ''}${from === name ? ' mine' : ''}`;
  li.dataset.from = from;
  li.dataset.kind = m.kind;
  const who = document.createElement('b');
  // The name is the sender's choice; the connection id is the server's.
  who.textContent = Number.isSafeInteger(m.sender) ? `${from} #${m.sender}` : from;
  who.style.color = safeColor(m.color, from);
  const body = document.createElement('span');
  body.className = 'text';
  body.textContent = text;
  li.append(who, ' ', body);
  if (rtt !== null) {
    const tag = document.createElement('span');
    tag.className = 'rtt';
    tag.title = 'from send to this message coming back through the room';
    tag.textContent = `↻ ${formatMs(rtt)} through the room`;
    li.append(tag);
  } else if (typeof theirRtt === 'number' && Number.isFinite(theirRtt)) {
    const tag = document.createElement('span');
    tag.className = 'rtt theirs';
    tag.title = "the sender's last echo round trip";
    tag.textContent = `their echo ${formatMs(theirRtt)}`;
    li.append(tag);
  }
  const log = $('#log');
  log.append(li);
  while (log.children.length > MAX_LOG) log.firstElementChild.remove();
  log.scrollTop = log.scrollHeight;
}

function recordRtt(ms) {
  rtts.push(ms);
  if (rtts.length > 120) rtts.shift();
  rttMin = Math.min(rttMin, ms);
  rttSum += ms;
  rttCount += 1;
  $('#rtt-last').textContent = formatMs(ms);
  $('#rtt-min').textContent = formatMs(rttMin);
  $('#rtt-mean').textContent = formatMs(rttSum / rttCount);
  $('#rtt-count').textContent = String(rttCount);
  rttChart.draw(rtts);
}

async function ask(value) {
  if (!socket?.isOpen) return;
  try {
    // The reply is the next message to arrive, which may be a room message instead: route
    // whatever comes; an echo that arrives later goes through `onmessage` and is routed there.
    route(await socket.request(value));
  } catch {
    // The connection dropped; `onclose` shows it.
  }
}

function ping() {
  if (!socket?.isOpen) return;
  pingSeq += 1;
  pings.set(pingSeq, performance.now());
  ask({ ping: pingSeq, client: name });
}

function showConnection() {
  const s = socket?.stats();
  if (!s) return;
  $('#st-dialect').textContent = s.dialect ?? '–';
  $('#st-msg-in').textContent = String(s.messages_in);
  $('#st-msg-out').textContent = String(s.messages_out);
  $('#st-bytes-in').textContent = formatBytes(s.bytes_in);
  $('#st-bytes-out').textContent = formatBytes(s.bytes_out);
  $('#st-failures').textContent = String(Object.values(s.failures).reduce((a, b) => a + b, 0));
  $('#st-age').textContent = formatDuration(performance.now() / 1000 - s.connected_at_s);
}

function showServer(stats) {
  $('#srv-connections').textContent = String(stats.connections);
  $('#srv-msg-in').textContent = String(stats.messages_in);
  $('#srv-msg-out').textContent = String(stats.messages_out);
  $('#srv-uptime').textContent = formatDuration(Number(stats.uptime_s));
}

function showClients(list) {
  const clients = list.filter(isObject);
  const rows = clients.slice(0, MAX_CLIENT_ROWS).map((c) => {
    const tr = document.createElement('tr');
    const cells = [c.id, c.client_id ?? '', c.dialect ?? '', c.messages_in, c.messages_out];
    for (const cell of cells) {
      const td = document.createElement('td');
      td.textContent = cell === null || cell === undefined ? '' : String(cell);
      tr.append(td);
    }
    if (c.client_id === name) tr.className = 'mine';
    return tr;
  });
  if (!clientsShown) {
    const tr = document.createElement('tr');
    const td = document.createElement('td');
    td.colSpan = 5;
    td.textContent = 'the server lists its clients only on its own machine (or with its control token)';
    tr.append(td);
    rows.push(tr);
  } else if (clients.length > MAX_CLIENT_ROWS) {
    const tr = document.createElement('tr');
    const td = document.createElement('td');
    td.colSpan = 5;
    td.textContent = `and ${clients.length - MAX_CLIENT_ROWS} more`;
    tr.append(td);
    rows.push(tr);
  }
  $('#clients tbody').replaceChildren(...rows);
}

function setStatus(text, state) {
  const el = $('#status');
  el.textContent = text;
  el.className = `status ${state}`;
  const open = state === 'open';
  $('#chat-input').disabled = !open;
  $('#chat-send').disabled = !open;
}

function opened() {
  setStatus('connected', 'open');
  post('join');
  ping();
  askStats();
}

/** Asks for the server's statistics, and its clients while it lists them to this page. */
function askStats() {
  ask({ $jsocket: 'stats' });
  if (clientsShown) ask({ $jsocket: 'clients' });
}

async function start() {
  $('#me-name').textContent = name;
  $('#me-name').style.color = color;
  $('#ws-url').textContent = wsUrl;
  // A kiosk may start before the server does: keep trying, as the socket does once connected.
  for (let attempt = 0; socket === null; attempt++) {
    try {
      socket = await JsonSocket.connect(wsUrl, { reconnect: { initialDelay: 500, maxDelay: 5000 } });
    } catch (error) {
      if (error.kind !== 'connect') {
        setStatus(`cannot connect (${error.kind ?? error.message})`, 'closed');
        return;
      }
      setStatus('waiting for the server…', 'connecting');
      await new Promise((resolve) => setTimeout(resolve, Math.min(5000, 500 * 2 ** attempt)));
    }
  }
  socket.onmessage = route;
  socket.onopen = opened;
  socket.onerror = (error) => console.warn('skipped a payload:', error.message);
  socket.onclose = ({ reason, error, willReconnect }) => {
    pings.clear();
    inFlight.clear();
    const why = reason === 'error' ? `${reason}: ${error?.kind}` : reason;
    setStatus(willReconnect ? `reconnecting (${why})…` : `closed (${why})`, willReconnect ? 'connecting' : 'closed');
  };
  opened();
  setInterval(ping, PING_EVERY_MS);
  setInterval(askStats, STATS_EVERY_MS);
  setInterval(showConnection, 250);
  addEventListener('pagehide', () => post('leave'));
}

$('#chat-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const input = $('#chat-input');
  const text = input.value.trim();
  if (!text) return;
  chatSeq += 1;
  const id = `${name}-${chatSeq}`;
  inFlight.set(id, performance.now());
  if (post('chat', { id, text })) input.value = '';
  else inFlight.delete(id);
});

start();
