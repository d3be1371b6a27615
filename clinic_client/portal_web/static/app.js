// The portal page: one screen at a time. Nothing is kept: the PIN is cleared from its field
// as soon as it is sent to this PC's portal app (which gives it to the card only), and the
// view goes when the person logs out or takes the card away.
"use strict";

const $ = (id) => document.getElementById(id);
const screens = ["insert", "login", "home", "unregister", "register", "registered", "out", "failure"];
let current = "insert";
let insertion = -1;
let cardIn = false;
let retryScreen = "login";
let shown = null;  // the signed-in view, for 証明データを保存; dropped on every other screen
let checking = 0;  // counts each rendering, so that a late check never writes into a newer one

function show(name) {
  if (name !== "failure") {
    delete document.body.dataset.failure;
    $("failure-title").textContent = "";
    $("failure-message").textContent = "";
  }
  for (const s of screens) $(`screen-${s}`).hidden = s !== name;
  current = name;
  if (!["home", "unregister"].includes(name)) shown = null;
  $("logout").hidden = !["home", "unregister", "register"].includes(name);
  for (const input of document.querySelectorAll(".pin input")) input.value = "";
  updateButtons();
}

function pinField(name) { return document.querySelector(`.pin[data-pin="${name}"] input`); }

function buildPins() {
  for (const box of document.querySelectorAll(".pin")) {
    const input = document.createElement("input");
    input.type = "password";
    input.inputMode = "numeric";
    input.maxLength = 4;
    input.autocomplete = "off";
    input.setAttribute("aria-label", "暗証番号（数字4桁）");
    input.name = `pin-${box.dataset.pin}`;
    input.addEventListener("input", () => { input.value = input.value.replace(/\D/g, "").slice(0, 4); updateButtons(); });
    input.addEventListener("keydown", (e) => { if (e.key === "Enter") submit(box.dataset.pin); });
    const keys = document.createElement("div");
    keys.className = "keys";
    for (const k of ["1", "2", "3", "4", "5", "6", "7", "8", "9", "訂正", "0", "消去"]) {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = k;
      b.addEventListener("click", () => {
        if (k === "訂正") input.value = input.value.slice(0, -1);
        else if (k === "消去") input.value = "";
        else if (input.value.length < 4) input.value += k;
        updateButtons();
      });
      keys.appendChild(b);
    }
    box.append(input, keys);
  }
}

function updateButtons() {
  const full = (n) => pinField(n) && pinField(n).value.length === 4;
  $("login-go").disabled = !full("login");
  $("unregister-go").disabled = !full("unregister");
  $("register-go").disabled = !(full("register") && $("consent").checked);
}

async function post(path, body) {
  try {
    const r = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    return await r.json();
  } catch (e) {
    return { failure: { kind: "local", message: "このパソコンのポータルアプリに接続できません。アプリを起動し直してください。" } };
  }
}

const TITLES = {
  "wrong-pin": "暗証番号が違います",
  "pin-blocked": "暗証番号がロックされています",
  "server-unreachable": "サーバーに接続できません",
  "certificate-refused": "電子証明書が使えません",
  "no-card": "カードが読み取れません",
  "no-reader": "カードリーダーが見つかりません",
  "bad-input": "入力内容を確認してください",
};

function triesText(n) {
  $("login-tries").textContent = n < 3 ? `暗証番号はあと${n}回まちがえるとロックされます。` : "";
}

function fail(f, back) {
  retryScreen = back;
  if (typeof f.tries_left === "number") triesText(f.tries_left);
  $("failure-title").textContent = TITLES[f.kind] || "うまくいきませんでした";
  $("failure-message").textContent = f.message;
  $("failure-code").textContent = f.code ? `エラーコード: ${f.code}` : "";
  const retry = $("failure-retry");
  const final = ["pin-blocked", "certificate-refused"].includes(f.kind);
  retry.hidden = final;
  retry.textContent = f.kind === "server-unreachable" ? "もう一度試す" : "もう一度入力する";
  $("failure-home").textContent = final ? "カードを取り出して終了する" : "はじめに戻る";
  show("failure");
  document.body.dataset.failure = f.kind;
}

function text(el, value) { el.textContent = value; return el; }

function renderHome(view) {
  const reg = view.registration;
  $("home-insurers").replaceChildren(...(reg.insurers.length ? reg.insurers.map((i) =>
    text(document.createElement("div"), `${i.name}（保険者番号 ${i.number}）`)) :
    [text(document.createElement("div"), "現在有効な保険の資格はありません")]));
  $("home-since").textContent = reg.since;
  $("home-via").textContent = reg.via;
  $("home-mynumber").textContent = view.my_number.masked || "表示できません";
  $("home-mynumber-note").textContent = view.my_number.note || "";
  const body = document.querySelector("#history tbody");
  body.replaceChildren(...view.history.map((row) => {
    const tr = document.createElement("tr");
    if (row.refused) tr.className = "refused";
    const when = row.when.replace(/ (?=[^ ]*$)/, "\n");  // the day, then the time of day
    for (const v of [when, row.who, row.how, row.what]) tr.appendChild(text(document.createElement("td"), v));
    const cell = text(document.createElement("td"), "確認しています…");
    cell.className = "proof";
    tr.appendChild(cell);
    return tr;
  }));
  $("history-empty").hidden = view.history.length > 0;
  renderLinkages(view.linkages || []);
  shown = view;
  show("home");
  checkHistory(view);
}

// The era table of onshi_kernel.japan_time (the page says dates as the portal app's words do).
const ERAS = [["令和", 2019, 5, 1], ["平成", 1989, 1, 8], ["昭和", 1926, 12, 25], ["大正", 1912, 7, 30], ["明治", 1873, 1, 1]];

/** `令和8年12月2日（2026年12月2日） 21時58分` in Japan time, as words.japan_time_text. */
function japanTime(date) {
  const j = new Date(date.getTime() + 9 * 3600 * 1000);  // Japan has no summer time
  const [y, m, d] = [j.getUTCFullYear(), j.getUTCMonth() + 1, j.getUTCDate()];
  const era = ERAS.find(([, ey, em, ed]) => y > ey || (y === ey && (m > em || (m === em && d >= ed))));
  const year = era ? y - era[1] + 1 : null;
  const wareki = era ? `${era[0]}${year === 1 ? "元" : year}年${m}月${d}日` : "";
  const minutes = String(j.getUTCMinutes()).padStart(2, "0");
  return `${wareki}（${y}年${m}月${d}日） ${j.getUTCHours()}時${minutes}分`;
}

function witnessWords(witnessedBy) {
  return witnessedBy.map((w) => `${w.name}（${japanTime(w.time)}に確認）`).join("、");
}

/** Each row's record checked in this page with OnshiTransparency, against the keys of this
 * PC's portal app (view.verification), never keys the server sent. */
async function checkHistory(view) {
  const round = ++checking;
  const v = view.verification || {};
  const rows = [...document.querySelectorAll("#history tbody tr")];
  const summary = $("history-proofs");
  summary.className = "proofs";
  $("history-save").hidden = !view.history.some((row) => row.proof);
  const mark = (tr, kind, words, title) => {
    const cell = tr.querySelector("td.proof");
    cell.className = `proof ${kind}`;
    cell.textContent = words;
    cell.title = title || "";
    tr.dataset.proof = kind;
  };
  if (v.missing) {
    for (const tr of rows) mark(tr, "nokeys", "確認用の鍵が設定されていません", v.missing);
    summary.textContent = v.missing;
    return;
  }
  const results = await Promise.all(view.history.map((row) => {
    if (!row.proof || !row.proof.proof || !v.checkpoint) return null;
    return OnshiTransparency.checkRecord({
      checkpointNote: v.checkpoint, logKey: v.log_key, witnessKeys: v.witness_keys,
      leafBase64: row.proof.leaf, index: row.proof.index, proofBase64: row.proof.proof,
      origin: v.origin,
    });
  }));
  if (round !== checking) return;
  let ok = 0, failed = 0, pending = 0, passed = null;
  results.forEach((r, i) => {
    if (r === null) {
      pending++;
      mark(rows[i], "pending", "確認待ち（次の記録の確定後に確認できます）");
    } else if (r.ok) {
      ok++;
      passed = r;
      mark(rows[i], "ok", "✓ 改ざんされていません",
        `記録の木の大きさ ${r.size}、${witnessWords(r.witnessedBy)}`);
    } else {
      failed++;
      mark(rows[i], "failed", `✗ 確認できません：${r.reason}`, `確認できなかった段階: ${r.step}`);
    }
  });
  const parts = [];
  if (passed) {
    parts.push(`${results.length}件のうち${ok}件の記録が改ざんされていないことを確認しました` +
      `（確定した記録の木：${passed.size}件、立会人：${witnessWords(passed.witnessedBy)}）。`);
  } else if (ok === 0 && failed === 0) {
    parts.push(v.checkpoint ? "確認できる記録はまだありません。" : "記録の確定（立会人の確認）がまだないため、確認できる記録はありません。");
  }
  if (failed) parts.push(`${failed}件の記録は確認できませんでした。記録が改ざんされたか、設定された鍵が違う可能性があります。`);
  if (pending) parts.push(`${pending}件は確認待ちです（次の記録の確定後に確認できます）。`);
  summary.textContent = parts.join("");
  if (failed) summary.className = "proofs failed";
}

/** 証明データを保存: the checkpoint and every record's proof, as `clinic log verify-history`
 * reads them, so that anyone can check them again offline. */
function saveProofs() {
  if (!shown) return;
  const document_ = {
    checkpoint: (shown.verification || {}).checkpoint || null,
    entries: shown.history.map((row) => ({
      leaf: row.proof ? row.proof.leaf : null,
      leaf_index: row.proof ? row.proof.index : null,
      inclusion_proof: row.proof ? row.proof.proof : null,
      recorded_at: row.when_iso,
    })),
  };
  const blob = new Blob([JSON.stringify(document_, null, 2) + "\n"], { type: "application/json" });
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = "onshi-access-proofs.json";
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}

function renderLinkages(linkages) {
  const rows = [];
  for (const row of linkages) {
    const tr = document.createElement("tr");
    if (row.held) tr.className = "held";
    const when = row.when.replace(/ (?=[^ ]*$)/, "\n");
    for (const v of [when, row.insurer, row.what, row.differing || "—", row.my_number || "—"]) {
      tr.appendChild(text(document.createElement("td"), v));
    }
    rows.push(tr);
    if (row.advice) {
      const advice = document.createElement("tr");
      advice.className = "advice";
      const td = text(document.createElement("td"), row.advice);
      td.colSpan = 5;
      advice.appendChild(td);
      rows.push(advice);
    }
  }
  document.querySelector("#linkages tbody").replaceChildren(...rows);
  $("linkages-empty").hidden = linkages.length > 0;
}

async function submit(which) {
  const input = pinField(which);
  const pin = input.value;
  input.value = "";
  if (pin.length !== 4) return;
  if (which === "login") {
    const view = await post("/api/login", { pin });
    if (view.failure) return fail(view.failure, "login");
    if (view.registered) return renderHome(view);
    $("register-history").textContent = view.history.length ? `情報の提供記録: ${view.history.length}件（利用登録後にログインすると表示されます）` : "";
    $("consent").checked = false;
    return show("register");
  }
  if (which === "register") {
    const r = await post("/api/register", { pin, consent: $("consent").checked });
    if (r.failure) return fail(r.failure, "register");
    $("registered-insurers").textContent = r.insurers.length ? `保険者: ${r.insurers.join("、")}` : "";
    return show("registered");
  }
  if (which === "unregister") {
    const r = await post("/api/unregister", { pin });
    if (r.failure) return fail(r.failure, "unregister");
    $("out-title").textContent = "利用登録を解除しました";
    $("out-text").textContent = "このマイナンバーカードは健康保険証として使えなくなりました。ログアウトしました。カードを取り出してください。";
    return show("out");
  }
}

async function cardArrived() {
  try {
    const r = await (await fetch("/api/card")).json();
    if (r.failure) return fail(r.failure, "login");
    if (r.tries_left === 0) {
      return fail({ kind: "pin-blocked", message: "このカードの暗証番号はロックされています。お住まいの市区町村の窓口で暗証番号の再設定を受けてください。" }, "login");
    }
    triesText(r.tries_left);
  } catch (e) { /* the login says what goes wrong */ }
  show("login");
}

function logout(title, textValue) {
  $("out-title").textContent = title;
  $("out-text").textContent = textValue;
  show("out");
}

async function poll() {
  let s;
  try { s = await (await fetch("/api/status")).json(); } catch (e) { s = null; }
  if (s === null) {
    $("reader-state").textContent = "このパソコンのポータルアプリに接続できません。";
  } else if (s.state === "card") {
    if (!cardIn || s.insertion !== insertion) { cardIn = true; insertion = s.insertion; await cardArrived(); }
  } else {
    const was = cardIn;
    cardIn = false;
    $("reader-state").textContent = s.state === "empty" ? "カードリーダーにカードがありません。" :
      "カードリーダーが見つかりません。接続を確認してください。";
    if (was) {
      if (["home", "unregister", "register"].includes(current)) {
        logout("ログアウトしました", "カードが取り出されたので、ログアウトしました。");
      } else if (current !== "out") show("insert");
    }
  }
  setTimeout(poll, ((s && s.poll_s) || 0.5) * 1000);
}

document.addEventListener("DOMContentLoaded", () => {
  buildPins();
  $("login-go").addEventListener("click", () => submit("login"));
  $("register-go").addEventListener("click", () => submit("register"));
  $("unregister-go").addEventListener("click", () => submit("unregister"));
  $("consent").addEventListener("change", updateButtons);
  $("unregister-start").addEventListener("click", () => show("unregister"));
  $("history-save").addEventListener("click", saveProofs);
  $("unregister-cancel").addEventListener("click", () => show("home"));
  $("registered-login").addEventListener("click", () => show("login"));
  $("out-again").addEventListener("click", () => show(cardIn ? "login" : "insert"));
  $("logout").addEventListener("click", () => logout("ログアウトしました", "マイナンバーカードをカードリーダーから取り出してください。"));
  $("failure-retry").addEventListener("click", () => show(cardIn ? retryScreen : "insert"));
  $("failure-home").addEventListener("click", () => {
    if (["pin-blocked", "certificate-refused"].includes(document.body.dataset.failure)) {
      logout("終了しました", "マイナンバーカードをカードリーダーから取り出してください。手続きのあと、もう一度お試しください。");
    } else show(cardIn ? "login" : "insert");
  });
  show("insert");
  poll();
});
