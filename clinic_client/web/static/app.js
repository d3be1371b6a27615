"use strict";
// The front desk page. Every value from the server is put on the page with textContent.

const TEXT = {
  ja: {
    title: "オンライン資格確認 受付", tab_card: "マイナ保険証で確認", tab_number: "保険証の番号で確認",
    tab_batch: "予約の一括確認", wait_card: "カードをリーダーに置いてください",
    card_ready: "カードを読み取りました。確認方法を選んでください。",
    consents: "患者さんの同意（この受診について）", c_limit: "限度額適用認定証の情報を提供する",
    c_med: "薬剤情報の閲覧に同意する", c_check: "特定健診情報の閲覧に同意する",
    c_diag: "診療・手術情報の閲覧に同意する", mode_pin: "暗証番号で確認", mode_face: "顔認証で確認",
    mode_visual: "目視で確認", enter_pin: "暗証番号（数字4桁）を入力してください", confirm: "確認する",
    cancel: "戻る", checking: "確認しています…", tries: (n) => `残り${n}回まで入力できます`,
    visual_lead: "顔写真と患者さんを見比べて、本人であることを確認してください。", passcode: "目視確認用パスコード",
    passcode_until: (hhmm) => `（${hhmm}まで有効・1回限り）`,
    register_lead: "健康保険証として利用登録します。患者さんの同意を確認し、暗証番号を入力してください。",
    register_consent: "患者さんが利用登録に同意しました", register: "登録する",
    registered: "利用登録が完了しました。続けて資格を確認できます。",
    insurer_number: "保険者番号", symbol: "記号", number: "番号", branch: "枝番", birthdate: "生年月日",
    lookup: "照会する", batch_lead: "予約患者の一覧（CSV：InsurerNumber, InsuredCardSymbol, InsuredIdentificationNumber, InsuredBranchNumber, Birthdate）を選んでください。",
    batch_run: "一括確認する", batch_waiting: (n) => `受付番号 ${n}：照会中です…`, print: "印刷", export: "CSVで保存", retry: "もう一度",
    to_number: "保険証の番号で確認", to_register: "この端末で利用登録する", to_face: "顔認証・目視で確認",
    note_no_pin: "このカードでは暗証番号が使えません（ロック中、または暗証番号のない顔認証マイナンバーカード）。顔認証または目視で確認してください。",
    note_phone: "スマートフォン（スマホ用電子証明書）です。暗証番号で確認します。",
    credential_phone: "スマートフォン（スマホ用電子証明書）で確認",
    reader: { "card": "カードあり", "empty": "カード待ち", "no-reader": "リーダーなし", "no-service": "リーダー停止中", "unknown": "…" },
    removed_note: "カードは取り外されました（表示は前の患者さんのものです）",
    validity: { "1": "有効", "2": "無効（資格喪失）", "3": "無効（新しい資格あり）", "4": "該当資格なし", "5": "複数の資格あり" },
    v2_note: "この資格は失われています。他の保険の資格を確認してください。",
    v3_note: "新しい資格があります。新しい保険証の番号で照会してください。",
    v5_note: "有効な資格が複数あります。どちらで受診するか患者さんに確認してください。",
    f: { "no-reader": "カードリーダーが見つかりません", "no-card": "カードがありません", "card-removed": "カードが取り出されました",
         "wrong-pin": "暗証番号が違います", "pin-blocked": "暗証番号がロックされています", "face-locked": "顔認証がロックされています",
         "pin-not-issued": "暗証番号のないカードです", "smartphone-pin-only": "スマートフォンは暗証番号で確認します",
         "certificate-expired": "電子証明書の有効期限切れ", "certificate-revoked": "電子証明書が失効しています",
         "certificate-invalid": "確認できないカードです", "not-registered": "利用登録がされていません",
         "server-unreachable": "サーバーに接続できません", "refused": "確認できませんでした", "bad-input": "入力内容の誤り",
         "card-error": "カードを読み取れません" },
    fields: { name: "氏名", kana: "カナ", birth: "生年月日", sex: "性別", insurer: "保険者", number: "記号・番号・枝番",
              ratio: "負担割合", acquired: "資格取得日", lost: "資格喪失日", kind: "本人・家族", limit: "限度額適用区分", card: "証区分" },
    sex: { "1": "男", "2": "女", "3": "未設定" }, kind: { "1": "本人", "2": "家族" },
    limit_kind: { "01": "限度額適用", "02": "限度額適用・標準負担額減額", "03": "標準負担額減額" },
    no_consent: "提供の同意なし",
    batch_cols: ["保険者番号", "記号", "番号", "枝番", "結果", "氏名", "カナ", "保険者名", "負担割合"],
  },
  en: {
    title: "Eligibility check – reception", tab_card: "My Number card", tab_number: "Insured-card number",
    tab_batch: "Appointments (batch)", wait_card: "Put the card on the reader",
    card_ready: "Card read. Choose how to confirm the patient.",
    consents: "Patient's consent (for this visit)", c_limit: "Share the high-cost limit certificate",
    c_med: "Allow viewing medication history", c_check: "Allow viewing health check-ups",
    c_diag: "Allow viewing diagnoses and operations", mode_pin: "Confirm with PIN", mode_face: "Face recognition",
    mode_visual: "Visual check", enter_pin: "Enter the 4-digit PIN", confirm: "Confirm", cancel: "Back",
    checking: "Checking…", tries: (n) => `${n} tries left`,
    visual_lead: "Compare the card's photo with the patient before confirming.", passcode: "Visual-check passcode",
    passcode_until: (hhmm) => `(valid until ${hhmm}, for one check)`,
    register_lead: "Register this card for use as a health insurance card. Confirm consent and enter the PIN.",
    register_consent: "The patient consents to the registration", register: "Register",
    registered: "Registered. You can now check eligibility.",
    insurer_number: "Insurer number", symbol: "Symbol", number: "Number", branch: "Branch", birthdate: "Birth date",
    lookup: "Look up", batch_lead: "Choose the appointments CSV (InsurerNumber, InsuredCardSymbol, InsuredIdentificationNumber, InsuredBranchNumber, Birthdate).",
    batch_run: "Check all", batch_waiting: (n) => `Reception number ${n}: being checked…`, print: "Print", export: "Save as CSV", retry: "Try again",
    to_number: "Use the insured-card number", to_register: "Register at this reader", to_face: "Face or visual check",
    note_no_pin: "This card's PIN cannot be used (blocked, or a face-only card issued without a PIN). Use face recognition or a visual check.",
    note_phone: "A smartphone (スマホ用電子証明書): it is checked with its PIN.",
    credential_phone: "Checked with a smartphone (スマホ用電子証明書)",
    reader: { "card": "Card present", "empty": "Waiting for a card", "no-reader": "No reader", "no-service": "Reader service down", "unknown": "…" },
    removed_note: "The card was removed (this is the previous patient's answer)",
    validity: { "1": "Valid", "2": "Invalid (lost)", "3": "Invalid (newer qualification)", "4": "No qualification", "5": "Several qualifications" },
    v2_note: "This qualification has ended. Check for another insurance.",
    v3_note: "A newer qualification exists. Look up the new insured-card number.",
    v5_note: "Several valid qualifications. Ask the patient which one applies.",
    f: { "no-reader": "No card reader", "no-card": "No card", "card-removed": "Card removed", "wrong-pin": "Wrong PIN",
         "pin-blocked": "PIN blocked", "face-locked": "Face recognition locked",
         "pin-not-issued": "No PIN on this card", "smartphone-pin-only": "A smartphone is checked with its PIN", "certificate-expired": "Certificate expired", "certificate-revoked": "Certificate revoked",
         "certificate-invalid": "Card cannot be verified", "not-registered": "Card not registered",
         "server-unreachable": "Server unreachable", "refused": "Not confirmed", "bad-input": "Invalid input",
         "card-error": "Card unreadable" },
    fields: { name: "Name", kana: "Kana", birth: "Birth date", sex: "Sex", insurer: "Insurer", number: "Symbol / number / branch",
              ratio: "Copay", acquired: "Qualified from", lost: "Lost on", kind: "Insured / family", limit: "Limit class", card: "Card type" },
    sex: { "1": "Male", "2": "Female", "3": "Unset" }, kind: { "1": "Insured", "2": "Family" },
    limit_kind: { "01": "Limit applies", "02": "Limit and reduced meal cost", "03": "Reduced meal cost" },
    no_consent: "not shared (no consent)",
    batch_cols: ["Insurer", "Symbol", "Number", "Branch", "Result", "Name", "Kana", "Insurer name", "Copay"],
  },
};
let lang = "ja";
const t = (key) => TEXT[lang][key];
const $ = (id) => document.getElementById(id);
let readerState = { state: "unknown", insertion: 0 };
let step = "wait";
let lastBatch = null;

function applyLanguage() {
  document.documentElement.lang = lang;
  document.title = t("title");
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  $("lang").textContent = lang === "ja" ? "English" : "日本語";
  showReader();
}

function showStep(name) {
  step = name;
  for (const el of document.querySelectorAll("#tab-card .step")) el.hidden = el.id !== `step-${name}`;
}

function showReader() {
  $("reader").dataset.state = readerState.state;
  $("reader-text").textContent = t("reader")[readerState.state] || readerState.state;
}

function onReader(status) {
  const newCard = status.state === "card" && status.insertion !== readerState.insertion;
  const gone = status.state !== "card" && readerState.state === "card";
  readerState = status;
  showReader();
  if (newCard) { resetCardFlow(); showStep("mode"); offerModes(status.insertion); return; }
  if (status.state === "no-reader" || status.state === "no-service") {
    if (step !== "result") showFailure({ kind: "no-reader", message_ja: "カードリーダーが見つかりません。接続を確認してください。", message_en: "No card reader found. Check that it is connected." });
    return;
  }
  if (gone) {
    if (step === "result") { addNote($("step-result"), t("removed_note")); return; }
    if (step !== "failure") showStep("wait");
  } else if (status.state === "empty" && step === "failure" && $("step-failure").dataset.kind === "no-reader") {
    showStep("wait");
  }
}

// What the card in the reader allows: no PIN step for a blocked PIN or a face card (no PIN),
// only the PIN for a smartphone (its certificate is read after the PIN).
function showModes(pin, device, note) {
  $("mode-pin").hidden = !pin;
  $("mode-face").hidden = !device;
  $("mode-visual").hidden = !device;
  $("mode-note").hidden = !note;
  $("mode-note").textContent = note ? t(note) : "";
}

async function offerModes(insertion) {
  const card = await api("/api/card");
  if (readerState.insertion !== insertion || step !== "mode" || card.failure) return;
  if (card.credential === "smartphone") showModes(true, false, "note_phone");
  else if (card.tries_left === 0) showModes(false, true, "note_no_pin");
}

function resetCardFlow() {
  showModes(true, true, null);
  for (const id of ["c-limit", "c-med", "c-check", "c-diag"]) $(id).checked = false;
  $("pin").value = "";
  $("step-result").replaceChildren();
}

function consents() {
  return { limit_application: $("c-limit").checked, medication: $("c-med").checked,
           health_checkups: $("c-check").checked, diagnosis: $("c-diag").checked, operation: $("c-diag").checked };
}

async function api(path, options) {
  let response;
  try { response = await fetch(path, options); }
  catch (e) { return { failure: { kind: "server-unreachable", message_ja: "この端末のサービスに接続できません。", message_en: "The front-desk service does not answer." } }; }
  const body = await response.json().catch(() => ({}));
  if (response.ok) return body;
  if (body.failure) return body;
  if (response.status === 422) {
    const detail = body.detail ? JSON.stringify(body.detail) : response.statusText;
    return { failure: { kind: "bad-input", message_ja: "入力内容を確認してください。", message_en: detail } };
  }
  return { failure: { kind: "refused", message_ja: "この端末でエラーが発生しました。もう一度お試しください。", message_en: `Front-desk error (HTTP ${response.status}). Try again.` } };
}

const post = (path, body) => api(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });

async function startPin() {
  showStep("pin");
  $("pin").value = "";
  $("pin").focus();
  setTries(null);
  const card = await api("/api/card");
  if (card.failure) return showFailure(card.failure);
  setTries(card.tries_left);
}

function setTries(n) {
  const el = $("tries");
  el.textContent = n === null ? "" : t("tries")(n);
  el.classList.toggle("low", n !== null && n <= 1);
}

// A visual check needs a 目視確認用パスコード from the server: got first, shown, then sent.
async function startVisual() {
  showStep("busy");
  const issued = await post("/api/visual-passcode", {});
  if (issued.failure) return showFailure(issued.failure);
  $("passcode").textContent = issued.passcode;
  $("passcode-until").textContent = t("passcode_until")(`${issued.expires_at.slice(8, 10)}:${issued.expires_at.slice(10, 12)}`);
  $("visual-ok").dataset.passcode = issued.passcode;
  showStep("visual");
}

async function check(mode, pin, passcode) {
  showStep("busy");
  const body = await post("/api/check", { mode, pin, passcode, consents: consents() });
  if (body.failure) {
    if (body.failure.kind === "wrong-pin") {
      showStep("pin");
      $("pin").value = "";
      setTries(body.failure.tries_left);
      $("tries").textContent = `${lang === "ja" ? body.failure.message_ja : body.failure.message_en}`;
      $("tries").classList.add("low");
      $("pin").focus();
      return;
    }
    return showFailure(body.failure);
  }
  renderAnswer($("step-result"), body.answer);
  showStep("result");
}

function showFailure(failure) {
  $("step-failure").dataset.kind = failure.kind;
  $("failure-title").textContent = t("f")[failure.kind] || failure.kind;
  $("failure-text").textContent = (lang === "ja" ? failure.message_ja : failure.message_en) + (failure.code ? ` (${failure.code})` : "");
  const actions = $("failure-actions");
  actions.replaceChildren();
  const button = (label, fn, primary) => {
    const b = document.createElement("button"); b.type = "button"; b.textContent = label;
    if (primary) b.className = "primary"; b.addEventListener("click", fn); actions.append(b);
  };
  if (failure.kind === "not-registered") button(t("to_register"), () => { showStep("register"); $("register-pin").focus(); }, true);
  if (["card-removed", "card-error", "server-unreachable", "refused", "no-card"].includes(failure.kind)) button(t("retry"), () => showStep(readerState.state === "card" ? "mode" : "wait"), true);
  if (["pin-blocked", "pin-not-issued"].includes(failure.kind)) button(t("to_face"), () => { showModes(false, true, "note_no_pin"); showStep("mode"); }, true);
  if (failure.kind === "smartphone-pin-only") button(t("mode_pin"), startPin, true);
  if (failure.kind === "face-locked") { button(t("mode_pin"), startPin, true); button(t("mode_visual"), startVisual); }
  if (["certificate-expired", "certificate-revoked", "certificate-invalid", "pin-blocked", "server-unreachable", "not-registered"].includes(failure.kind)) button(t("to_number"), () => selectTab("number"));
  showStep("failure");
}

function addNote(container, text) {
  if (container.querySelector(".removed")) return;
  const p = document.createElement("p"); p.className = "notice removed"; p.textContent = text; container.prepend(p);
}

function ymd(value) { return value ? `${value.slice(0, 4)}/${value.slice(4, 6)}/${value.slice(6, 8)}` : ""; }
function ratio(value) { return value ? (lang === "ja" ? `${Number(value) / 10}割` : `${Number(value)}%`) : ""; }

function renderAnswer(container, answer) {
  container.replaceChildren();
  const body = answer.MessageBody;
  const v = body.QualificationValidity;
  const results = body.ResultList ? body.ResultList.ResultOfQualificationConfirmation : [];
  const wrap = document.createElement("div"); wrap.className = "result";
  if (results.length) {
    const first = results[0];
    const h = document.createElement("h2"); h.textContent = first.Name; wrap.append(h);
    const k = document.createElement("p"); k.className = "kana"; k.textContent = first.NameKana || ""; wrap.append(k);
  }
  const badge = document.createElement("span"); badge.className = `badge v${v}`; badge.textContent = t("validity")[v]; wrap.append(badge);
  if (answer.MessageHeader.CredentialClassification === "2") {
    const c = document.createElement("p"); c.className = "credential"; c.textContent = t("credential_phone"); wrap.append(c);
  }
  const note = { "2": "v2_note", "3": "v3_note", "5": "v5_note" }[v];
  if (note) { const p = document.createElement("p"); p.className = "notice"; p.textContent = t(note); wrap.append(p); }
  const f = t("fields");
  for (const r of results) {
    const q = document.createElement("div"); q.className = "qualification";
    const dl = document.createElement("dl"); dl.className = "facts";
    const row = (label, value) => { if (!value) return; const dt = document.createElement("dt"); dt.textContent = label; const dd = document.createElement("dd"); dd.textContent = value; dl.append(dt, dd); };
    row(f.birth, ymd(r.Birthdate));
    row(f.sex, t("sex")[r.Sex1]);
    row(f.insurer, `${r.InsurerNumber.trim()} ${r.InsurerName}`);
    row(f.number, [r.InsuredCardSymbol, r.InsuredIdentificationNumber, r.InsuredBranchNumber].filter(Boolean).join("・"));
    row(f.kind, t("kind")[r.PersonalFamilyClassification]);
    row(f.ratio, ratio(r.InsuredPartialContributionRatio));
    row(f.acquired, ymd(r.QualificationDate));
    row(f.lost, ymd(r.DisqualificationDate));
    const limit = r.LimitApplicationCertificateRelatedInfo;
    if (limit) row(f.limit, `${t("limit_kind")[limit.LimitApplicationCertificateClassification] || limit.LimitApplicationCertificateClassification}${limit.LimitApplicationCertificateClassificationFlag ? `（${lang === "ja" ? "区分" : "class "}${limit.LimitApplicationCertificateClassificationFlag}）` : ""}`);
    else if (r.LimitApplicationCertificateRelatedConsFlg === "0") row(f.limit, t("no_consent"));
    q.append(dl); wrap.append(q);
  }
  container.append(wrap);
}

function selectTab(name) {
  for (const b of document.querySelectorAll(".tab")) b.classList.toggle("active", b.dataset.tab === name);
  for (const p of document.querySelectorAll(".panel")) p.hidden = p.id !== `tab-${name}`;
}

async function lookupNumber(event) {
  event.preventDefault();
  const form = new FormData(event.target);
  const query = {
    InsurerNumber: form.get("InsurerNumber"), InsuredIdentificationNumber: form.get("InsuredIdentificationNumber"),
    InsuredBranchNumber: form.get("InsuredBranchNumber") || null, Birthdate: String(form.get("Birthdate")).replaceAll("-", ""),
    LimitApplicationCertificateRelatedConsFlg: form.get("limit") ? "1" : "0",
  };
  if (form.get("InsuredCardSymbol")) query.InsuredCardSymbol = form.get("InsuredCardSymbol");
  const out = $("number-result");
  const body = await post("/api/lookup", query);
  if (body.failure) {
    out.replaceChildren();
    const p = document.createElement("p"); p.className = "failure big";
    p.textContent = (lang === "ja" ? body.failure.message_ja : body.failure.message_en) + (body.failure.code ? ` (${body.failure.code})` : "");
    out.append(p); return;
  }
  renderAnswer(out, body.answer);
}

const BATCH_POLL_MS = 1000;

async function runBatch(event) {
  event.preventDefault();
  const out = $("batch-result");
  const data = new FormData(); data.append("file", $("batch-file").files[0]);
  const fail = (failure) => { out.replaceChildren(); const p = document.createElement("p"); p.className = "failure big"; p.textContent = lang === "ja" ? failure.message_ja : failure.message_en; out.append(p); };
  const submitted = await api("/api/batch", { method: "POST", body: data });
  if (submitted.failure) { fail(submitted.failure); return; }
  // Two steps, as the real interface: the batch is handed over for a reception number,
  // then its result is fetched; until the server is done it answers 処理中 (SegmentOfResult 2).
  const number = submitted.receipt.MessageHeader.ReceptionNumber;
  const waiting = document.createElement("p"); waiting.className = "big"; waiting.id = "batch-waiting";
  waiting.textContent = t("batch_waiting")(number); out.replaceChildren(waiting);
  let body;
  for (;;) {
    body = await api(`/api/batch/${number}`);
    if (body.failure) { fail(body.failure); return; }
    if (body.batch.MessageHeader.SegmentOfResult !== "2") break;
    await new Promise((resolve) => setTimeout(resolve, BATCH_POLL_MS));
  }
  out.replaceChildren();
  lastBatch = body.batch;
  const head = body.batch.MessageHeader;
  const summary = document.createElement("p"); summary.className = "big";
  summary.textContent = lang === "ja" ? `${head.NumberOfProcessingResult}件中 正常${head.NumberOfNormalProcessing}件・エラー${head.NumberOfError}件`
                                      : `${head.NumberOfProcessingResult} checked: ${head.NumberOfNormalProcessing} answered, ${head.NumberOfError} errors`;
  out.append(summary);
  const table = document.createElement("table"); const tr = document.createElement("tr");
  for (const c of t("batch_cols")) { const th = document.createElement("th"); th.textContent = c; tr.append(th); }
  table.append(tr);
  for (const row of batchRows(body.batch)) {
    const r = document.createElement("tr"); if (row.error) r.className = "error";
    row.cells.forEach((v, i) => { const td = document.createElement("td"); td.textContent = v; if (i === 4) td.className = "wrap"; r.append(td); });
    table.append(r);
  }
  out.append(table);
  const actions = document.createElement("div"); actions.className = "row noprint";
  const printButton = document.createElement("button"); printButton.type = "button"; printButton.textContent = t("print"); printButton.addEventListener("click", () => window.print());
  const exportButton = document.createElement("button"); exportButton.type = "button"; exportButton.textContent = t("export"); exportButton.addEventListener("click", exportBatch);
  actions.append(printButton, exportButton); out.append(actions);
}

function batchRows(batch) {
  return batch.BulkConfirmUnit.map((unit) => {
    const q = unit.QualificationConfirmSearchInfo;
    const r = unit.ResultOfQualificationConfirmation ? unit.ResultOfQualificationConfirmation[0] : {};
    const result = unit.ProcessingResultStatus === "1" ? t("validity")[unit.QualificationValidity] : `${unit.ProcessingResultCode} ${unit.ProcessingResultMessage || ""}`;
    return { error: unit.ProcessingResultStatus !== "1" || unit.QualificationValidity !== "1",
             cells: [q.InsurerNumber.trim(), q.InsuredCardSymbol || "", q.InsuredIdentificationNumber, q.InsuredBranchNumber || "", result,
                     r.Name || "", r.NameKana || "", r.InsurerName || "", ratio(r.InsuredPartialContributionRatio)] };
  });
}

// A spreadsheet reads a cell that starts with = + - @ TAB or CR as a formula: a name such as
// =HYPERLINK(…) would be live in the file a receptionist opens. OWASP's rule: such a cell gets
// a leading ' (shown as text, not evaluated), and every cell is quoted, quotes doubled.
const FORMULA_START = /^[=+\-@\t\r]/;
function csvCell(value) {
  const text = String(value);
  return `"${(FORMULA_START.test(text) ? `'${text}` : text).replaceAll('"', '""')}"`;
}

function batchCsv(batch) {
  const lines = [t("batch_cols").map(csvCell).join(",")].concat(batchRows(batch).map((r) => r.cells.map(csvCell).join(",")));
  return "\ufeff" + lines.join("\r\n");
}

function exportBatch() {
  if (!lastBatch) return;
  const blob = new Blob([batchCsv(lastBatch)], { type: "text/csv;charset=utf-8" });
  const a = document.createElement("a"); a.href = URL.createObjectURL(blob); a.download = "eligibility.csv"; a.click();
  URL.revokeObjectURL(a.href);
}

function listen() {
  const source = new EventSource("/api/events");
  source.onmessage = (event) => onReader(JSON.parse(event.data));
  source.onerror = () => { readerState = { ...readerState, state: "unknown" }; showReader(); };
}

document.addEventListener("DOMContentLoaded", () => {
  applyLanguage();
  $("lang").addEventListener("click", () => { lang = lang === "ja" ? "en" : "ja"; applyLanguage(); });
  for (const b of document.querySelectorAll(".tab")) b.addEventListener("click", () => selectTab(b.dataset.tab));
  $("mode-pin").addEventListener("click", startPin);
  $("mode-face").addEventListener("click", () => check("face", null));
  $("mode-visual").addEventListener("click", startVisual);
  $("visual-ok").addEventListener("click", () => check("visual", null, $("visual-ok").dataset.passcode));
  $("visual-cancel").addEventListener("click", () => showStep("mode"));
  $("pin-cancel").addEventListener("click", () => showStep("mode"));
  $("pin-form").addEventListener("submit", (e) => { e.preventDefault(); check("pin", $("pin").value); });
  $("register-cancel").addEventListener("click", () => showStep("mode"));
  $("register-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    showStep("busy");
    const body = await post("/api/register", { pin: $("register-pin").value });
    $("register-pin").value = "";
    if (body.failure) return showFailure(body.failure);
    showStep("mode");
    addNote($("step-mode"), t("registered"));
  });
  $("number-form").addEventListener("submit", lookupNumber);
  $("batch-form").addEventListener("submit", runBatch);
  listen();
});
