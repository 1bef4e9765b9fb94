// Commands from the page: return to launch, land, hold. Each asks for confirmation, then
// POSTs to /api/cmd, which sends it the way `aerie cmd` does (FLEET_CMD, followed to the
// vehicle's verdict, audited) and answers with the outcome: the vehicle's COMMAND_ACK result
// when it answered, or that the command is queued on the hub.
import { MAV_RESULT } from './replay.js';

const NAMES = { rtl: 'Return to launch', land: 'Land', hold: 'Hold (loiter)' };

export class Commands {
  constructor(getVid) {
    this.getVid = getVid;
    this.dialog = document.getElementById('confirm');
    this.result = document.getElementById('cmd-result');
    this.pendingList = document.getElementById('pending');
    for (const b of document.querySelectorAll('button.cmd'))
      b.addEventListener('click', () => this.ask(b.dataset.cmd));
  }

  ask(cmd) {
    const vid = this.getVid();
    if (!vid) return;
    document.getElementById('confirm-text').textContent = `Send "${NAMES[cmd]}" to ${vid}?`;
    this.dialog.returnValue = '';
    this.dialog.onclose = () => {
      if (this.dialog.returnValue === 'yes') this.send(vid, cmd);
    };
    this.dialog.showModal();
  }

  async send(vid, cmd) {
    this.result.className = '';
    this.result.textContent = `${NAMES[cmd]} to ${vid}: sending…`;
    let out;
    try {
      const r = await fetch('/api/cmd', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ vid, command: cmd }),
      });
      out = await r.json();
      if (!r.ok) throw new Error(out.error || `HTTP ${r.status}`);
    } catch (e) {
      this.result.className = 'bad';
      this.result.textContent = `${NAMES[cmd]} to ${vid}: ${e.message}`;
      return;
    }
    const doc = out.result || {};
    let text = `${NAMES[cmd]} to ${vid}: ${out.state}`;
    if (doc.mav_result != null)
      text += ` (COMMAND_ACK ${MAV_RESULT[doc.mav_result] || doc.mav_result}` +
              `${doc.attempts ? ', ' + doc.attempts + ' attempt' + (doc.attempts > 1 ? 's' : '') : ''})`;
    if (out.note) text += ` — ${out.note.trim()}`;
    text += ` [${out.id}]`;
    this.result.dataset.state = out.state;
    this.result.dataset.id = out.id;
    this.result.className = out.code === 0 ? 'ok' : out.code === 3 ? '' : 'bad';
    this.result.textContent = text;
    this.refreshPending(vid);
  }

  async refreshPending(vid) {
    try {
      const r = await fetch(`/api/pending/${encodeURIComponent(vid)}`);
      const list = await r.json();
      if (vid !== this.getVid() || !r.ok) return;
      this.pendingList.replaceChildren();
      if (list.length === 0) {
        const li = document.createElement('li');
        li.textContent = 'none';
        this.pendingList.appendChild(li);
      }
      for (const c of list) {
        const li = document.createElement('li');
        li.dataset.id = c.id;
        li.textContent = `${c.command} ${c.state} (${c.id}, expires ${c.expires || '?'})`;
        this.pendingList.appendChild(li);
      }
    } catch (e) { /* the next refresh tries again */ }
  }
}
