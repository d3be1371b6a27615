"use strict";
// The reception terminal's page. Every value from the server is put on the page with
// textContent. The PIN never comes here: the patient types it at the reader.

const TEXT = {
  ja: {
    title: "オンライン資格確認 受付端末", tab_checkins: "本日の受付", tab_number: "保険証の番号で確認",
    tab_batch: "予約の一括確認", list_title: "本日の受付",
    list_empty: "まだ受付はありません。患者さんがカードリーダーで確認すると、ここに表示されます。",
    detail_empty: "受付を選ぶと、確認結果が表示されます。", print: "印刷", next: "次の患者へ",
    live: { live: "受付を受信中", down: "受信が止まっています（再接続中）", unknown: "…" },
    c_limit: "限度額適用認定証の情報を提供する（患者さんの同意あり）",
    insurer_number: "保険者番号", symbol: "記号", number: "番号", branch: "枝番", birthdate: "生年月日",
    lookup: "照会する", looking_up: "照会しています…",
    batch_lead: "予約患者の一覧（CSV：InsurerNumber, InsuredCardSymbol, InsuredIdentificationNumber, InsuredBranchNumber, Birthdate）を選んでください。",
    batch_date: "確認日（受診日）", batch_run: "一括確認する", batch_waiting: (n) => `受付番号 ${n}：照会中です…`,
    export: "CSVで保存", retry: "もう一度", to_number: "保険証の番号で確認",
    checked_at: "確認時刻", method: "確認方法", credential: "読み取ったもの", consents_given: "同意",
    methods: { pin: "暗証番号", face: "顔認証", visual: "目視確認" },
    credentials: { card: "マイナンバーカード", face_card: "顔認証マイナンバーカード", smartphone: "スマートフォン（スマホ用電子証明書）" },
    consent_names: { medication: "診療・薬剤情報の提供", checkups: "特定健診情報の提供", limit: "限度額情報の提供", prescription: "処方箋" },
    yes: "同意する", no: "同意しない", prescription: { electronic: "電子処方箋", paper: "紙の処方箋" },
    failed: "確認できませんでした", failed_short: "確認できず", what_to_do: "対応",
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
    todo: { "no-reader": "カードリーダーの接続を確認してください。", "no-card": "カードをリーダーに置き直してもらってください。",
            "card-removed": "カードを置いたまま、もう一度確認してもらってください。",
            "wrong-pin": "もう一度暗証番号を入力してもらうか、顔認証・目視確認に切り替えてもらってください。",
            "pin-blocked": "顔認証または目視確認で確認してもらってください。暗証番号のロック解除は市区町村の窓口です。",
            "face-locked": "暗証番号または目視確認で確認してもらってください。",
            "pin-not-issued": "顔認証または目視確認で確認してもらってください。",
            "smartphone-pin-only": "スマートフォンでは暗証番号で確認してもらってください。",
            "certificate-expired": "電子証明書の更新は市区町村の窓口です。今回は保険証の番号（資格確認書）で確認してください。",
            "certificate-revoked": "保険証の番号（資格確認書）で確認してください。",
            "certificate-invalid": "保険証の番号（資格確認書）で確認してください。",
            "not-registered": "リーダーで利用登録を案内するか、保険証の番号（資格確認書）で確認してください。",
            "server-unreachable": "通信が回復したら、もう一度確認してもらってください。急ぐときは保険証の番号で確認してください。",
            "refused": "保険証の番号（資格確認書）で確認してください。", "bad-input": "入力内容を確認して、もう一度照会してください。",
            "card-error": "カードを置き直して、もう一度確認してもらってください。" },
    fields: { name: "氏名", kana: "カナ", birth: "生年月日", sex: "性別", insurer: "保険者", number: "記号・番号・枝番",
              ratio: "負担割合", period: "資格の期間", card_expiry: "保険証の有効期限", kind: "本人・家族",
              limit: "限度額適用区分", limit_valid: "限度額の有効期間", disease: "特定疾病", card: "証区分" },
    sex: { "1": "男", "2": "女", "3": "未設定" }, kind: { "1": "本人", "2": "家族" },
    limit_kind: { "01": "限度額適用", "02": "限度額適用・標準負担額減額", "03": "標準負担額減額" },
    disease_category: (c) => `区分${c}`, self_pay: (yen) => `（自己負担限度額 月${yen}円）`,
    no_consent: "提供の同意なし", from_to: (a, b) => `${a} から ${b || "（期限なし）"}`,
    batch_cols: ["保険者番号", "記号", "番号", "枝番", "生年月日", "結果", "氏名", "カナ", "保険者名", "負担割合"],
    summary: (h) => `${h.NumberOfProcessingResult}件中 正常${h.NumberOfNormalProcessing}件・エラー${h.NumberOfError}件`,
    request_id: "問い合わせ番号",
  },
  en: {
    title: "Eligibility check – reception terminal", tab_checkins: "Today's check-ins", tab_number: "Insured-card number",
    tab_batch: "Appointments (batch)", list_title: "Today's check-ins",
    list_empty: "No check-ins yet. They appear here when a patient checks in at the card reader.",
    detail_empty: "Choose a check-in to see its result.", print: "Print", next: "Next patient",
    live: { live: "Receiving check-ins", down: "Not receiving (reconnecting)", unknown: "…" },
    c_limit: "Share the high-cost limit certificate (patient consents)",
    insurer_number: "Insurer number", symbol: "Symbol", number: "Number", branch: "Branch", birthdate: "Birth date",
    lookup: "Look up", looking_up: "Looking up…",
    batch_lead: "Choose the appointments CSV (InsurerNumber, InsuredCardSymbol, InsuredIdentificationNumber, InsuredBranchNumber, Birthdate).",
    batch_date: "Check date (visit day)", batch_run: "Check all", batch_waiting: (n) => `Reception number ${n}: being checked…`,
    export: "Save as CSV", retry: "Try again", to_number: "Use the insured-card number",
    checked_at: "Checked at", method: "Method", credential: "Read from", consents_given: "Consents",
    methods: { pin: "PIN", face: "Face recognition", visual: "Visual check" },
    credentials: { card: "My Number card", face_card: "Face-only My Number card", smartphone: "Smartphone (スマホ用電子証明書)" },
    consent_names: { medication: "Share diagnoses and medication", checkups: "Share health check-ups", limit: "Share the limit certificate", prescription: "Prescription" },
    yes: "agreed", no: "declined", prescription: { electronic: "electronic", paper: "paper" },
    failed: "Not confirmed", failed_short: "Not confirmed", what_to_do: "What to do",
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
    todo: { "no-reader": "Check that the card reader is connected.", "no-card": "Ask the patient to place the card again.",
            "card-removed": "Ask the patient to leave the card on the reader and check again.",
            "wrong-pin": "Ask the patient to retry the PIN, or to use face recognition or a visual check.",
            "pin-blocked": "Use face recognition or a visual check; the municipality unblocks the PIN.",
            "face-locked": "Use the PIN or a visual check.", "pin-not-issued": "Use face recognition or a visual check.",
            "smartphone-pin-only": "A smartphone is checked with its PIN.",
            "certificate-expired": "The municipality renews the certificate; look up the insured-card number this time.",
            "certificate-revoked": "Look up the insured-card number.", "certificate-invalid": "Look up the insured-card number.",
            "not-registered": "Offer the registration at the reader, or look up the insured-card number.",
            "server-unreachable": "Check again when the network is back; look up the number if urgent.",
            "refused": "Look up the insured-card number.", "bad-input": "Check the input and look up again.",
            "card-error": "Ask the patient to place the card again and check again." },
    fields: { name: "Name", kana: "Kana", birth: "Birth date", sex: "Sex", insurer: "Insurer", number: "Symbol / number / branch",
              ratio: "Copay", period: "Qualified", card_expiry: "Card valid until", kind: "Insured / family",
              limit: "Limit class", limit_valid: "Limit valid", disease: "Specific disease", card: "Card type" },
    sex: { "1": "Male", "2": "Female", "3": "Unset" }, kind: { "1": "Insured", "2": "Family" },
    limit_kind: { "01": "Limit applies", "02": "Limit and reduced meal cost", "03": "Reduced meal cost" },
    disease_category: (c) => `category ${c}`, self_pay: (yen) => ` (self-pay limit ¥${yen}/month)`,
    no_consent: "not shared (no consent)", from_to: (a, b) => `${a} to ${b || "(open)"}`,
    batch_cols: ["Insurer", "Symbol", "Number", "Branch", "Birth date", "Result", "Name", "Kana", "Insurer name", "Copay"],
    summary: (h) => `${h.NumberOfProcessingResult} checked: ${h.NumberOfNormalProcessing} answered, ${h.NumberOfError} errors`,
    request_id: "Reference",
  },
};
let lang = "ja";
const t = (key) => TEXT[lang][key];
const $ = (id) => document.getElementById(id);
let checkIns = [];
let selected = null; // the id of the check-in shown
let lookupShown = null; // { answer, wareki } or { failure }
let lastBatch = null;
let lastWareki = {};
let liveState = "unknown";

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined && text !== null) e.textContent = text;
  return e;
}

function applyLanguage() {
  document.documentElement.lang = lang;
  document.title = t("title");
  for (const e of document.querySelectorAll("[data-i18n]")) e.textContent = t(e.dataset.i18n);
  $("lang").textContent = lang === "ja" ? "English" : "日本語";
  showLive();
  renderList();
  renderDetail();
  renderLookup();
  if (lastBatch) renderBatch(lastBatch, lastWareki);
}

function showLive() {
  $("live").dataset.state = liveState === "live" ? "card" : liveState === "down" ? "no-service" : "unknown";
  $("live-text").textContent = t("live")[liveState];
}

// A date as the desk reads it: 和暦 first with 西暦 beside it (English: the other way round).
function iso(value) { return value ? `${value.slice(0, 4)}-${value.slice(4, 6)}-${value.slice(6, 8)}` : ""; }
function day(value, wareki) {
  if (!value) return "";
  const era = wareki && wareki[value];
  if (!era) return iso(value);
  return lang === "ja" ? `${era} (${iso(value)})` : `${iso(value)} (${era})`;
}
function ratio(value) { return value ? (lang === "ja" ? `${Number(value) / 10}割` : `${Number(value)}%`) : ""; }
function clock(checkedAt) { return String(checkedAt).slice(11, 19); } // ISO with +09:00: Japan time as sent

// --- today's check-ins ---------------------------------------------------------------------

function firstResult(record) {
  const list = record.answer && record.answer.MessageBody.ResultList;
  return list ? list.ResultOfQualificationConfirmation[0] : null;
}

function renderList() {
  const ol = $("checkins");
  ol.replaceChildren();
  $("checkins-empty").hidden = checkIns.length > 0;
  for (const record of checkIns) {
    const li = el("li", "checkin");
    li.dataset.id = record.id;
    if (record.id === selected) li.classList.add("selected");
    const button = el("button", "checkin-button");
    button.type = "button";
    const r = firstResult(record);
    const time = el("span", "time", clock(record.checked_at));
    let badge;
    if (record.outcome === "answered") {
      const v = record.answer.MessageBody.QualificationValidity;
      badge = el("span", `badge v${v}`, t("validity")[v]);
    } else {
      badge = el("span", "badge failed", t("failed_short"));
    }
    const kind = record.failure ? record.failure.kind : "refused";
    const who = el("span", "who", r ? r.Name : t("f")[kind] || kind);
    const what = el("span", "what", r ? `${r.InsurerName} ${[r.InsuredCardSymbol, r.InsuredIdentificationNumber, r.InsuredBranchNumber].filter(Boolean).join("・")}`
                                      : `${t("methods")[record.method] || record.method}・${t("todo")[kind] || ""}`);
    button.append(time, badge, who, what);
    button.addEventListener("click", () => { selected = record.id; renderList(); renderDetail(); });
    li.append(button);
    ol.append(li);
  }
}

function renderDetail() {
  const record = checkIns.find((r) => r.id === selected);
  const detail = $("detail");
  detail.replaceChildren();
  detail.hidden = !record;
  $("detail-actions").hidden = !record;
  $("detail-empty").hidden = Boolean(record);
  if (!record) return;
  // On paper the page's header is left out: the sheet says what it is and when it was checked.
  detail.append(el("p", "print-only", `${t("title")} — ${t("checked_at")} ${String(record.checked_at).slice(0, 10)} ${clock(record.checked_at)}`));
  const facts = el("dl", "facts meta");
  const row = (dl, label, value) => { if (!value) return; dl.append(el("dt", null, label), el("dd", null, value)); };
  const f = t("fields");
  row(facts, t("checked_at"), `${clock(record.checked_at)} (${String(record.checked_at).slice(0, 10)})`);
  row(facts, t("method"), t("methods")[record.method] || record.method);
  row(facts, t("credential"), t("credentials")[record.credential] || record.credential);
  const given = Object.entries(record.consents || {}).map(([k, v]) => {
    const name = t("consent_names")[k] || k;
    const colon = lang === "ja" ? "：" : ": ";
    if (typeof v === "boolean") return `${name}${colon}${v ? t("yes") : t("no")}`;
    return `${name}${colon}${v === null ? "—" : t("prescription")[v] || v}`;
  });
  row(facts, t("consents_given"), given.join(lang === "ja" ? "、" : "; "));
  if (record.outcome === "answered" && record.answer) {
    renderAnswer(detail, record.answer, record.wareki);
    detail.append(facts);
  } else {
    const failure = record.failure || { kind: "refused", message_ja: "" };
    const box = el("div", "failure");
    box.append(el("h2", null, t("f")[failure.kind] || failure.kind));
    if (lang === "ja" && failure.message_ja) box.append(el("p", "big", failure.message_ja));
    if (failure.code) box.append(el("p", "muted", `${failure.code}`));
    box.append(el("h3", null, t("what_to_do")));
    box.append(el("p", "todo", t("todo")[failure.kind] || t("todo")["refused"]));
    const actions = el("div", "row noprint");
    const toNumber = el("button", null, t("to_number")); toNumber.type = "button";
    toNumber.addEventListener("click", () => selectTab("number"));
    actions.append(toNumber); box.append(actions);
    detail.append(box, facts);
  }
}

function renderAnswer(container, answer, wareki) {
  const body = answer.MessageBody;
  const v = body.QualificationValidity;
  const results = body.ResultList ? body.ResultList.ResultOfQualificationConfirmation : [];
  const wrap = el("div", "result");
  const top = el("div", "result-top");
  top.append(el("span", `badge big-badge v${v}`, t("validity")[v]));
  if (results.length) {
    const names = el("div");
    names.append(el("h2", null, results[0].Name), el("p", "kana", results[0].NameKana || ""));
    top.append(names);
  }
  wrap.append(top);
  const note = { "2": "v2_note", "3": "v3_note", "5": "v5_note" }[v];
  if (note) wrap.append(el("p", "notice", t(note)));
  const f = t("fields");
  for (const r of results) {
    const q = el("div", "qualification");
    const dl = el("dl", "facts");
    const row = (label, value) => { if (!value) return; dl.append(el("dt", null, label), el("dd", null, value)); };
    row(f.birth, day(r.Birthdate, wareki));
    row(f.sex, t("sex")[r.Sex1]);
    row(f.insurer, `${r.InsurerNumber.trim()} ${r.InsurerName}`);
    row(f.number, [r.InsuredCardSymbol, r.InsuredIdentificationNumber, r.InsuredBranchNumber].filter(Boolean).join("・"));
    row(f.kind, t("kind")[r.PersonalFamilyClassification]);
    row(f.ratio, ratio(r.InsuredPartialContributionRatio));
    row(f.period, t("from_to")(day(r.QualificationDate, wareki), day(r.DisqualificationDate, wareki)));
    row(f.card_expiry, day(r.InsuredCardExpirationDate, wareki));
    const limit = r.LimitApplicationCertificateRelatedInfo;
    if (limit) {
      row(f.limit, `${t("limit_kind")[limit.LimitApplicationCertificateClassification] || limit.LimitApplicationCertificateClassification}${limit.LimitApplicationCertificateClassificationFlag ? `（${lang === "ja" ? "区分" : "class "}${limit.LimitApplicationCertificateClassificationFlag}）` : ""}`);
      row(f.limit_valid, t("from_to")(day(limit.LimitApplicationCertificateValidStartDate, wareki), day(limit.LimitApplicationCertificateValidEndDate, wareki)));
    } else if (r.LimitApplicationCertificateRelatedConsFlg === "0") row(f.limit, t("no_consent"));
    for (const d of r.SpecificDiseasesCertificateList || []) {
      const pay = d.SpecificDiseasesSelfPay ? t("self_pay")(Number(d.SpecificDiseasesSelfPay).toLocaleString("ja-JP")) : "";
      row(f.disease, `${t("disease_category")(d.SpecificDiseasesDiseaseCategory)}${pay}　${t("from_to")(day(d.SpecificDiseasesValidStartDate, wareki), day(d.SpecificDiseasesValidEndDate, wareki))}`);
    }
    q.append(dl); wrap.append(q);
  }
  container.append(wrap);
}

function onCheckIns(list) {
  const known = new Set(checkIns.map((r) => r.id));
  checkIns = list;
  if (selected && !checkIns.some((r) => r.id === selected)) selected = null; // a new day
  renderList();
  renderDetail();
  for (const r of list) if (!known.has(r.id)) document.querySelector(`li[data-id="${r.id}"]`)?.classList.add("new");
}

function listen() {
  const source = new EventSource("/api/check-ins/events");
  source.onopen = () => { liveState = "live"; showLive(); };
  source.onmessage = (event) => { liveState = "live"; showLive(); onCheckIns(JSON.parse(event.data).check_ins); };
  source.onerror = () => { liveState = "down"; showLive(); };
}

function nextPatient() {
  selected = null;
  renderList();
  renderDetail();
}

// --- the insured-number lookup and the batch ---------------------------------------------

async function api(path, options = {}) {
  try {
    const response = await fetch(path, options);
    return await response.json();
  } catch {
    return { failure: { kind: "server-unreachable", message_ja: "受付端末に接続できません。", message_en: "The reception terminal does not answer." } };
  }
}

function failureLine(failure) {
  const text = lang === "ja" ? failure.message_ja : failure.message_en;
  const code = failure.code ? ` (${failure.code})` : "";
  const ref = failure.request_id ? ` ${t("request_id")}: ${failure.request_id}` : "";
  return el("p", "failure big", `${text}${code}${ref}`);
}

function selectTab(name) {
  for (const b of document.querySelectorAll(".tab")) b.classList.toggle("active", b.dataset.tab === name);
  for (const p of document.querySelectorAll(".panel")) p.hidden = p.id !== `tab-${name}`;
}

function renderLookup() {
  const out = $("number-result");
  out.replaceChildren();
  if (!lookupShown) return;
  if (lookupShown.busy) { out.append(el("p", "big muted", t("looking_up"))); return; }
  if (lookupShown.failure) { out.append(failureLine(lookupShown.failure)); return; }
  renderAnswer(out, lookupShown.answer, lookupShown.wareki);
}

async function lookupNumber(event) {
  event.preventDefault();
  const form = new FormData(event.target);
  const query = {
    InsurerNumber: form.get("InsurerNumber"), InsuredIdentificationNumber: form.get("InsuredIdentificationNumber"),
    Birthdate: String(form.get("Birthdate")).replaceAll("-", ""),
    LimitApplicationCertificateRelatedConsFlg: form.get("limit") ? "1" : "0",
  };
  if (form.get("InsuredCardSymbol")) query.InsuredCardSymbol = form.get("InsuredCardSymbol");
  if (form.get("InsuredBranchNumber")) query.InsuredBranchNumber = form.get("InsuredBranchNumber");
  // The answer before is gone first: under new input it would read as this one's.
  lookupShown = { busy: true };
  renderLookup();
  const body = await api("/api/lookup", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(query) });
  lookupShown = body;
  renderLookup();
}

const BATCH_POLL_MS = 1000;

async function runBatch(event) {
  event.preventDefault();
  const out = $("batch-result");
  lastBatch = null;
  const data = new FormData();
  data.append("file", $("batch-file").files[0]);
  if ($("batch-date").value) data.append("date", $("batch-date").value);
  const fail = (failure) => { out.replaceChildren(failureLine(failure)); };
  out.replaceChildren();
  const submitted = await api("/api/batch", { method: "POST", body: data });
  if (submitted.failure) { fail(submitted.failure); return; }
  // Two steps, as the real interface: the batch is handed over for a reception number,
  // then its result is fetched; until the server is done it answers 処理中 (SegmentOfResult 2).
  const number = submitted.receipt.MessageHeader.ReceptionNumber;
  const waiting = el("p", "big", t("batch_waiting")(number)); waiting.id = "batch-waiting";
  out.replaceChildren(waiting);
  let body;
  for (;;) {
    body = await api(`/api/batch/${number}`);
    if (body.failure) { fail(body.failure); return; }
    if (body.batch.MessageHeader.SegmentOfResult !== "2") break;
    await new Promise((resolve) => setTimeout(resolve, BATCH_POLL_MS));
  }
  renderBatch(body.batch, body.wareki || {});
}

function renderBatch(batch, wareki) {
  const out = $("batch-result");
  lastBatch = batch;
  lastWareki = wareki;
  out.replaceChildren(el("p", "big", t("summary")(batch.MessageHeader)));
  const scroll = el("div", "table-scroll");
  const table = el("table");
  const tr = el("tr");
  for (const c of t("batch_cols")) tr.append(el("th", null, c));
  table.append(tr);
  for (const row of batchRows(batch, wareki)) {
    const r = el("tr", row.error ? "error" : null);
    row.cells.forEach((v, i) => r.append(el("td", i === 5 ? "wrap" : null, v)));
    table.append(r);
  }
  scroll.append(table);
  out.append(scroll);
  const actions = el("div", "row noprint");
  const printButton = el("button", null, t("print")); printButton.type = "button"; printButton.addEventListener("click", () => window.print());
  const exportButton = el("button", null, t("export")); exportButton.type = "button"; exportButton.addEventListener("click", exportBatch);
  actions.append(printButton, exportButton); out.append(actions);
}

function batchRows(batch, wareki = lastWareki) {
  return batch.BulkConfirmUnit.map((unit) => {
    const q = unit.QualificationConfirmSearchInfo;
    const r = unit.ResultOfQualificationConfirmation ? unit.ResultOfQualificationConfirmation[0] : {};
    const result = unit.ProcessingResultStatus === "1" ? t("validity")[unit.QualificationValidity] : `${unit.ProcessingResultCode} ${unit.ProcessingResultMessage || ""}`;
    return { error: unit.ProcessingResultStatus !== "1" || unit.QualificationValidity !== "1",
             cells: [q.InsurerNumber.trim(), q.InsuredCardSymbol || "", q.InsuredIdentificationNumber, q.InsuredBranchNumber || "",
                     day(q.Birthdate || r.Birthdate || "", wareki), result,
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

async function defaultBatchDate() {
  const body = await api("/api/tomorrow");
  if (body.date && !$("batch-date").value) $("batch-date").value = body.date;
}

document.addEventListener("DOMContentLoaded", () => {
  applyLanguage();
  $("lang").addEventListener("click", () => { lang = lang === "ja" ? "en" : "ja"; applyLanguage(); });
  for (const b of document.querySelectorAll(".tab")) b.addEventListener("click", () => selectTab(b.dataset.tab));
  $("print").addEventListener("click", () => window.print());
  $("next").addEventListener("click", nextPatient);
  $("number-form").addEventListener("submit", lookupNumber);
  $("batch-form").addEventListener("submit", runBatch);
  defaultBatchDate();
  listen();
});
