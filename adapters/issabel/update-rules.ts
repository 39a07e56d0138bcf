/**
 * What pbxapi's extension update really does, and how the gateway keeps it from changing what the caller did
 * not ask to change. Source: IssabelFoundation/framework html/pbxapi/controllers/extensions.php, `put()` on an
 * existing number, which calls `create_param(..., 'UPDATE')`, `create_user(..., 'UPDATE')` and `create_vmail()`.
 *
 * An update is not a merge. Only the `users` row is merged with what is sent. The rest is rebuilt from the body:
 * - `devices.emergency_cid` is set to `callerid_override.emergency` as sent, NULL when left out;
 * - Follow-Me (its `findmefollow` row and astdb `AMPUSER/<n>/followme/*`) is deleted unless the body says
 *   `followme.enabled: yes`; with it, the stored row is written back as it was (every column not sent comes
 *   from the old row), and only the astdb keys sent are rewritten;
 * - dictation (astdb `AMPUSER/<n>/dictate/*`) is deleted unless the body says `dictation.enabled: yes`;
 * - the device's keywords (table `sip`, `iax` or `dahdi`) are deleted and re-inserted from pbxapi's own default
 *   list for the technology, each with its stored value where there was one: a keyword outside that list is lost
 *   and one missing from the device gets pbxapi's default;
 * - `name` is written to `devices.description` (what GET shows as the name) and astdb `cidname`; left out, the
 *   `users.name` value is used, which may differ from the displayed name.
 * Everything else (voicemail, recording, language, call waiting, the outbound and internal caller ids, the
 * destinations) is only written when sent, so the gateway leaves it out.
 *
 * Read and write formats differ, so nothing is sent back "as read" except values in the write format: the
 * emergency caller id must be digits (checkDigit), Follow-Me and dictation are re-enabled with `yes`, and the
 * rest is carried by pbxapi itself from the stored rows.
 */
import type { LostSetting } from '../../src/errors';
import { isRecord, type Raw } from '../../src/coerce';

/**
 * The device keywords `create_param()` re-inserts on an update, per technology, under the names GET shows them
 * (`device_options.<name>`, through pbxapi's `$field_map`; `secret`, `context` and `dial` are read outside
 * `device_options`). A keyword a device has outside its list is deleted by every update. Values are pbxapi's
 * defaults, written where the device lacked the keyword (`<n>` stands for the extension number).
 */
export const DEVICE_KEYWORDS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  sip: {
    dtmf_mode: 'rfc2833', can_reinvite: 'no', host: 'dynamic', trust_rpid: 'yes', send_rpid: 'no', type: 'friend', nat: 'yes',
    port: '5060', qualify: 'yes', qualify_frequency: '60', transport: 'udp', avpf: 'no', ice_support: 'no', force_avp: 'no',
    dtls_enable: 'no', dtls_verify: 'no', dtls_setup: 'actpass', encryption: 'no', call_group: '', pickup_group: '',
    disallow_codecs: '', allow_codecs: '', account_code: '', parking_lot: 'default', mailbox: '<n>@device',
    deny_acl: '0.0.0.0/0.0.0.0', permit_acl: '0.0.0.0/0.0.0.0', account: '<n>', callerid: 'device <<n>>',
    dtls_certificate_file: '', dtls_private_key: '',
  },
  pjsip: {
    dtmf_mode: 'rfc2833', trust_rpid: 'yes', send_rpid: 'no', nat: 'yes', qualify_timeout: '3.0', qualify_frequency: '60',
    transport: 'transport-udp', avpf: 'no', ice_support: 'no', dtls_enable: 'no', dtls_verify: 'no', dtls_setup: 'actpass',
    encryption: 'no', call_group: '', pickup_group: '', disallow_codecs: '', allow_codecs: '', account_code: '',
    parking_lot: 'default', mailbox: '<n>@device', deny_acl: '0.0.0.0/0.0.0.0', permit_acl: '0.0.0.0/0.0.0.0', account: '<n>',
    callerid: 'device <<n>>', dtls_certificate_file: '', dtls_private_key: '', max_contacts: '1', subscribe_context: '',
    message_context: '', allow_subscribe: 'no',
  },
  iax2: {
    transfer: 'yes', host: 'dynamic', type: 'friend', port: '4569', qualify: 'yes', disallow_codecs: 'all', allow_codecs: 'ulaw',
    account_code: '', mailbox: '<n>@device', deny_acl: '0.0.0.0/0.0.0.0', permit_acl: '0.0.0.0/0.0.0.0',
    require_call_token: 'yes', account: '208', callerid: 'device <<n>>', setvar: 'REALCALLERIDNUM=<n>',
  },
  dahdi: {
    channel: '1', immediate: 'no', signalling: 'fxo_ks', echo_cancel: 'yes', echocancelwhenbridged: 'no', echo_training: '800',
    busy_detect: 'no', busy_count: '7', call_progress: 'no', account_code: '', call_group: '', pickup_group: '',
    mailbox: '<n>@device', account: '<n>', callerid: 'device <<n>>',
  },
};

const digitsOnly = (v: string) => /^[0-9]*$/.test(v);
const text = (v: unknown): string | undefined => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined);

/** The settings an update of this record would change unasked, and cannot be given back through pbxapi. */
export function settingsAnUpdateLoses(raw: Raw): LostSetting[] {
  const lost: LostSetting[] = [];
  const number = text(raw.extension) ?? '';
  const tech = (text(raw.tech) ?? '').toLowerCase();

  const emergency = isRecord(raw.callerid_override) ? text(raw.callerid_override.emergency) : undefined;
  if (emergency && !digitsOnly(emergency)) {
    lost.push({ setting: 'callerid_override.emergency', detail: 'not digits: pbxapi accepts only digits here, and an update that leaves it out clears it' });
  }

  const followme = isRecord(raw.followme) ? raw.followme : {};
  const followmeOn = text(followme.enabled) === 'yes';
  // The row's own columns (strategy) only appear when a findmefollow row exists; the astdb keys when its tree does.
  const hasRow = followme.strategy !== undefined;
  const hasTree = followme.change_external_callerid !== undefined || followme.fixed_callerid !== undefined;
  if (followmeOn && !hasRow) {
    lost.push({ setting: 'followme', detail: 'enabled without a Follow-Me row: pbxapi would fail half-way rewriting it' });
  } else if (!followmeOn && (hasRow || hasTree)) {
    lost.push({ setting: 'followme', detail: 'Follow-Me is configured but disabled: every pbxapi update deletes it' });
  }

  const dictation = isRecord(raw.dictation) ? raw.dictation : {};
  if (text(dictation.enabled) !== 'yes' && (dictation.email !== undefined || dictation.format !== undefined)) {
    lost.push({ setting: 'dictation', detail: 'dictation is configured but disabled: every pbxapi update deletes it' });
  }

  const defaults = DEVICE_KEYWORDS[tech];
  if (defaults) {
    const options = isRecord(raw.device_options) ? raw.device_options : {};
    for (const key of Object.keys(options)) {
      if (!(key in defaults)) lost.push({ setting: `device_options.${key}`, detail: `pbxapi's update re-creates only its own ${tech} keywords: this one would be deleted` });
    }
    for (const [key, value] of Object.entries(defaults)) {
      if (!(key in options)) lost.push({ setting: `device_options.${key}`, detail: `missing on this device: pbxapi's update would add it as '${value.replace(/<n>/g, number)}'` });
    }
  }
  return lost;
}

/** Losses the caller has not accepted: a name accepts itself and, as a group (`device_options`), all under it. */
export function unaccepted(lost: LostSetting[], accepted: readonly string[] = []): LostSetting[] {
  return lost.filter((l) => !accepted.some((a) => l.setting === a || l.setting.startsWith(`${a}.`)));
}

/**
 * The body of an update that changes only `changes` (name and secret in pbxapi's names): the displayed name is
 * always sent (else pbxapi writes `users.name` over it), the emergency caller id when set, and Follow-Me and
 * dictation switched on again when they are on, so pbxapi carries their stored settings over.
 */
export function preservingUpdateBody(raw: Raw, changes: { name?: string; secret?: string }): Raw {
  const body: Raw = { name: changes.name ?? text(raw.name) ?? '' };
  if (changes.secret !== undefined) body.secret = changes.secret;
  const emergency = isRecord(raw.callerid_override) ? text(raw.callerid_override.emergency) : undefined;
  if (emergency && digitsOnly(emergency)) body.callerid_override = { emergency };
  if (isRecord(raw.followme) && text(raw.followme.enabled) === 'yes') body.followme = { enabled: 'yes' };
  if (isRecord(raw.dictation) && text(raw.dictation.enabled) === 'yes') body.dictation = { enabled: 'yes' };
  return body;
}
