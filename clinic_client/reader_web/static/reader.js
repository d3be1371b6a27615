// The patient-facing reader page. Every new card starts from a clean state: nothing of the
// previous patient (an answer, a PIN, a consent, a message) survives an insertion or a removal.
// The PIN lives in this page's memory only, from the keypad to the card; it is never shown.
"use strict";

const $ = (id) => document.getElementById(id);
const SCREENS = ["idle", "no-reader", "reading", "method", "pin", "consent", "checking",
  "done", "failure", "removed"];
// Screens during which a removed card interrupts the patient.
const REMOVED_S = 10;
const IN_PROGRESS = new Set(["reading", "method", "pin", "consent", "checking"]);

const CONSENTS = [
  { key: "medication", title: "診療・薬剤情報の提供",
    text: "過去の診療情報・お薬の情報を、この医療機関の医師・薬剤師に提供することに同意しますか。",
    yes: "同意する", no: "同意しない" },
  { key: "checkups", title: "特定健診情報の提供",
    text: "特定健診などの健診結果を、この医療機関の医師に提供することに同意しますか。",
    yes: "同意する", no: "同意しない" },
  { key: "limit", title: "限度額情報の提供",
    text: "限度額適用認定証の情報（高額療養費の自己負担限度額）を、この医療機関に提供することに同意しますか。",
    yes: "同意する", no: "同意しない" },
  { key: "prescription", title: "電子処方箋",
    text: "処方箋を電子処方箋で発行することを希望しますか。希望しない場合は紙の処方箋をお渡しします。",
    yes: "発行を希望する", no: "希望しない" },
];

const TITLES = {
  "wrong-pin": "暗証番号が違います",
  "pin-blocked": "暗証番号がロックされています",
  "pin-not-issued": "暗証番号のないカードです",
  "smartphone-pin-only": "スマートフォンは暗証番号で確認します",
  "face-locked": "顔認証がロックされています",
  "not-registered": "保険証としての利用登録がされていません",
  "certificate-expired": "カードの電子証明書の有効期限が切れています",
  "certificate-revoked": "カードの電子証明書が失効しています",
  "certificate-invalid": "このカードは確認できません",
  "server-unreachable": "資格確認サーバーに接続できません",
  "card-error": "カードを読み取れませんでした",
  "no-reader": "カードリーダーが見つかりません",
};

// The reader's own words where the desk's mention the 目視 check (staff's, not offered here).
const TEXTS = {
  "pin-blocked": "暗証番号は市区町村の窓口で解除できます。顔認証で確認するか、受付にお声がけください。",
  "pin-not-issued": "このカードは暗証番号のない顔認証マイナンバーカードです。顔認証で確認してください。",
  "face-locked": "顔認証が続けて一致しなかったため、このカードでは顔認証を使えません。暗証番号で確認するか、受付にお声がけください（暗証番号で確認すると解除されます）。",
  "certificate-expired": "このカードの電子証明書は有効期限が切れているため、確認できません。電子証明書は市区町村の窓口で更新できます。受付にお声がけください。",
  "certificate-revoked": "このカードの電子証明書は失効しているため、このカードでは確認できません。受付にお声がけください。",
  "certificate-invalid": "このカードでは確認できません。受付にお声がけください。",
  "server-unreachable": "資格確認サーバーに接続できません。しばらくしてから「やり直す」を押してください。続くときは受付にお声がけください。",
  "not-registered": "このカードは健康保険証としての利用登録がされていません。受付にお声がけください（利用登録は受付やマイナポータルでできます）。",
};
// The failures another method gets past: offered as a button of its own.
const FACE_HELPS = new Set(["pin-blocked", "pin-not-issued"]);
const PIN_HELPS = new Set(["face-locked", "smartphone-pin-only"]);

let state = null;

// A clean state for the patient of `insertion`; what the screens showed the last one is
// wiped too (a hidden screen keeps its text until it is drawn again).
function fresh(insertion) {
  for (const id of ["pin-dots", "pin-tries", "pin-error", "failure-title", "failure-text",
    "failure-code", "consent-title", "consent-text", "method-note"]) {
    const element = document.getElementById(id);
    if (element) element.replaceChildren();
  }
  return { insertion, card: null, mode: null, pin: "", step: 0,
    consents: { medication: false, checkups: false, limit: false, prescription: null } };
}

function show(name) {
  for (const screen of SCREENS) $("s-" + screen).hidden = screen !== name;
  $("reader").dataset.screen = name;
}

function screen() { return $("reader").dataset.screen; }

async function api(path, body) {
  const options = body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
  const response = await fetch(path, options);
  let data = {};
  try { data = await response.json(); } catch (_) { /* an empty answer */ }
  return { ok: response.ok, data };
}

// --- the reader ---------------------------------------------------------------------------

async function poll() {
  let status;
  try { status = (await api("/api/status")).data; } catch (_) { status = { state: "no-service" }; }
  const now = screen();
  if (status.state === "card") {
    if (status.insertion !== state.insertion) cardPlaced(status.insertion);
  } else if (status.state === "empty") {
    if (IN_PROGRESS.has(now)) removed();
    else if (now === "done" || now === "failure" || now === "no-reader") idle();
  } else {
    state = fresh(state.insertion);
    show("no-reader");
  }
}

// The removed screen says so to this patient, then gives way to the next one.
let removedTimer = null;
function removed() {
  state = fresh(state.insertion);
  show("removed");
  clearTimeout(removedTimer);
  removedTimer = setTimeout(() => { if (screen() === "removed") idle(); }, REMOVED_S * 1000);
}

function idle() { state = fresh(state.insertion); show("idle"); }

async function cardPlaced(insertion) {
  state = fresh(insertion);
  show("reading");
  const { ok, data } = await api("/api/card");
  if (insertion !== state.insertion) return;
  if (!ok) return failed(data.failure);
  state.card = data;
  chooseMethod();
}

function chooseMethod() {
  const card = state.card;
  state.mode = null;
  state.pin = "";
  $("m-pin").hidden = !card.pin;
  $("m-face").hidden = !card.face;
  const notes = [];
  if (card.credential === "face_card") {
    notes.push("このカードは暗証番号のない顔認証マイナンバーカードです。顔認証で確認してください。");
  } else if (card.credential === "smartphone") {
    notes.push("スマートフォンは暗証番号で確認します。");
  } else if (!card.pin) {
    notes.push("暗証番号がロックされているため、暗証番号では確認できません（市区町村の窓口で解除できます）。");
  }
  if (card.face_unavailable) notes.push("この端末では顔認証を利用できません。");
  if (card.credential === "face_card" && card.face_unavailable) {
    notes.splice(0, notes.length, "このカードは暗証番号のない顔認証マイナンバーカードですが、この端末では顔認証を利用できません。");
  }
  $("method-note").textContent = notes.join(" ");
  $("method-note").hidden = notes.length === 0;
  $("method-none").hidden = card.pin || card.face;
  show("method");
}

// --- the PIN keypad -----------------------------------------------------------------------

function keypad(message) {
  state.mode = "pin";
  state.pin = "";
  drawPin();
  const tries = state.card ? state.card.tries_left : null;
  $("pin-tries").textContent = tries === null ? "" : `あと${tries}回入力できます（続けて間違えるとロックされます）`;
  $("pin-error").textContent = message || "";
  $("pin-error").hidden = !message;
  show("pin");
}

function drawPin() {
  const dots = $("pin-dots");
  dots.replaceChildren();
  for (let i = 0; i < 4; i++) {
    const dot = document.createElement("span");
    if (i < state.pin.length) dot.className = "on";
    dots.append(dot);
  }
  $("pin-ok").disabled = state.pin.length !== 4;
}

async function pinEntered() {
  if (state.pin.length !== 4) return;
  const insertion = state.insertion;
  $("pin-ok").disabled = true;
  const { ok, data } = await api("/api/pin", { pin: state.pin });
  if (insertion !== state.insertion || screen() !== "pin") return;
  if (ok) return consent(0);
  const failure = data.failure || {};
  if (failure.kind === "wrong-pin") {
    state.card.tries_left = failure.tries_left;
    return keypad(`暗証番号が違います。残り${failure.tries_left}回です。`);
  }
  if (failure.kind === "pin-blocked") state.card.pin = false;
  failed(failure);
}

// --- the consents -------------------------------------------------------------------------

function consent(step) {
  state.step = step;
  const c = CONSENTS[step];
  $("consent-step").textContent = `同意の確認 ${step + 1} / ${CONSENTS.length}`;
  $("consent-title").textContent = c.title;
  $("consent-text").textContent = c.text;
  $("consent-yes").textContent = c.yes;
  $("consent-no").textContent = c.no;
  $("s-consent").dataset.consent = c.key;
  show("consent");
}

function answered(yes) {
  const c = CONSENTS[state.step];
  state.consents[c.key] = c.key === "prescription" ? (yes ? "electronic" : "paper") : yes;
  if (state.step + 1 < CONSENTS.length) return consent(state.step + 1);
  runCheck();
}

async function runCheck() {
  const insertion = state.insertion;
  show("checking");
  const body = { mode: state.mode, consents: state.consents };
  if (state.mode === "pin") body.pin = state.pin;
  state.pin = "";
  const { ok, data } = await api("/api/check", body);
  if (insertion !== state.insertion) return;
  if (ok) {
    $("done-reception").hidden = data.reception !== false;
    return show("done");
  }
  failed(data.failure);
}

// --- the failures -------------------------------------------------------------------------

function failed(failure) {
  failure = failure || { kind: "card-error", message_ja: "確認できませんでした。" };
  if (failure.kind === "card-removed") return removed();
  if (failure.kind === "no-reader") return show("no-reader");
  const card = state.card;
  $("failure-title").textContent = TITLES[failure.kind] || "確認できませんでした";
  $("failure-text").textContent = TEXTS[failure.kind] || failure.message_ja;
  $("failure-code").textContent = failure.code ? `（コード ${failure.code}）` : "";
  $("failure-face").hidden = !(card && card.face && FACE_HELPS.has(failure.kind));
  $("failure-pin").hidden = !(card && card.pin && PIN_HELPS.has(failure.kind));
  $("s-failure").dataset.kind = failure.kind;
  show("failure");
}

// --- wiring -------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("m-pin").addEventListener("click", () => keypad());
  $("m-face").addEventListener("click", () => { state.mode = "face"; consent(0); });
  for (const key of document.querySelectorAll(".key[data-digit]")) {
    key.addEventListener("click", () => {
      if (state.pin.length < 4) state.pin += key.dataset.digit;
      $("pin-error").hidden = true;
      drawPin();
    });
  }
  $("pin-clear").addEventListener("click", () => { state.pin = ""; drawPin(); });
  $("pin-ok").addEventListener("click", pinEntered);
  $("pin-back").addEventListener("click", chooseMethod);
  $("consent-yes").addEventListener("click", () => answered(true));
  $("consent-no").addEventListener("click", () => answered(false));
  $("failure-face").addEventListener("click", () => { state.mode = "face"; consent(0); });
  $("failure-pin").addEventListener("click", () => keypad());
  $("failure-retry").addEventListener("click", () => cardPlaced(state.insertion));
  state = fresh(0);
  show("idle");
  poll();
  setInterval(poll, 300);
});
