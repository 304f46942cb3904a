// The ATCS web chat: a tiny Telegram client over the Telegram stand-in's control API.
//
// Everything the bot wrote is untrusted: it reaches the page only as text nodes (append/textContent)
// and as element attributes set after checks (links must be http(s)). Telegram's formatting comes
// from the message entities (the stand-in parsed the bot's HTML into plain text + entities exactly
// as Telegram does), rendered as b/i/u/s/code/pre/blockquote/a elements: no HTML string is parsed.
"use strict";

(() => {
  const query = new URLSearchParams(location.search);
  const API = (query.get("api") || location.origin).replace(/\/+$/, "") + "/_control";
  const POLL_SECONDS = 25;
  const INVOICE_LINK = /^https:\/\/t\.me\/\$[A-Za-z0-9_-]+$/;

  const state = {
    user: null,
    generation: 0, // bumped on every user switch; a poll of an older generation stops
    abort: null,
    messages: [],
    rendered: new Map(), // message_id -> {key, node}
    paying: new Set(),
    toastTimer: null,
    stick: true, // the view follows new messages while scrolled to the bottom
    forceScroll: false,
  };

  const $ = (id) => document.getElementById(id);

  // --- small helpers ---------------------------------------------------------------------------

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "className") node.className = value;
      else if (key === "dataset") Object.assign(node.dataset, value);
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child !== null && child !== undefined && child !== false) node.append(child);
    }
    return node;
  }

  function safeUrl(raw) {
    try {
      const url = new URL(String(raw));
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
    } catch (_) {
      return null;
    }
  }

  function link(url, ...children) {
    return el("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, ...children);
  }

  function delay(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  function fileUrl(fileId) {
    return `${API}/files/${encodeURIComponent(fileId)}`;
  }

  function formatSize(bytes) {
    if (bytes < 1024) return `${bytes} B`;
    if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
    return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  }

  function amountLabel(currency, amount) {
    return currency === "XTR" ? `⭐️${amount}` : `${amount} ${currency}`;
  }

  async function call(method, path, body, signal) {
    const init = { method, signal, headers: {} };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers["Content-Type"] = "application/json";
    }
    const response = await fetch(API + path, init);
    let data = null;
    try {
      data = await response.json();
    } catch (_) {
      data = null;
    }
    if (!response.ok) {
      throw new Error((data && data.error) || `HTTP ${response.status}`);
    }
    return data;
  }

  function setStatus(text) {
    const node = $("status");
    node.hidden = !text;
    node.textContent = text || "";
  }

  function toast(text, alert) {
    const node = $("toast");
    node.textContent = text;
    node.className = alert ? "alert" : "";
    node.hidden = false;
    clearTimeout(state.toastTimer);
    state.toastTimer = setTimeout(() => { node.hidden = true; }, alert ? 8000 : 6000);
  }

  // --- text with entities ----------------------------------------------------------------------

  // Bare http(s) URLs, and /commands in the bot's messages, are clickable as in Telegram clients.
  const AUTO_LINKS = /(https?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]])|(?<=^|[\s(])(\/[A-Za-z][A-Za-z0-9_]{0,31}(?:@[A-Za-z0-9_]{3,64})?)(?![\w/])/g;

  function commandNode(command) {
    return el("span", {
      className: "command clickable",
      role: "link",
      tabindex: 0,
      title: `Send ${command}`,
      onclick: () => sendText(command),
    });
  }

  function appendText(parent, text, linkify, fromBot) {
    if (!linkify) {
      parent.append(text);
      return;
    }
    let last = 0;
    for (const match of text.matchAll(AUTO_LINKS)) {
      let node = null;
      if (match[1]) {
        const url = safeUrl(match[1]);
        if (url) node = link(url, match[1]);
      } else if (fromBot) {
        node = commandNode(match[2]);
        node.append(match[2]);
      }
      if (!node) continue;
      parent.append(text.slice(last, match.index), node);
      last = match.index + match[0].length;
    }
    parent.append(text.slice(last));
  }

  function entityNode(entity, slice, fromBot) {
    switch (entity.type) {
      case "bold": return el("b");
      case "italic": return el("i");
      case "underline": return el("u");
      case "strikethrough": return el("s");
      case "code": return el("code");
      case "pre": return el("pre", { dataset: entity.language ? { language: entity.language } : undefined });
      case "blockquote":
      case "expandable_blockquote": return el("blockquote");
      case "spoiler": {
        const node = el("span", { className: "spoiler", title: "Spoiler: click to reveal" });
        node.addEventListener("click", () => node.classList.add("revealed"));
        return node;
      }
      case "text_link":
      case "url": {
        const url = safeUrl(entity.type === "url" ? slice : entity.url);
        return url ? link(url) : el("span", { className: "bad-link", title: "link not opened here" });
      }
      case "bot_command": {
        return fromBot ? commandNode(slice) : el("span", { className: "command" });
      }
      default: return el("span", { className: `entity-${String(entity.type).replace(/[^a-z_]/g, "")}` });
    }
  }

  function noLinks(node, entity) {
    return !["A", "CODE", "PRE"].includes(node.tagName) && entity.type !== "bot_command";
  }

  // Entities use UTF-16 offsets, which is what JavaScript strings index by.
  function build(parent, text, start, end, entities, fromBot, linkify) {
    let pos = start;
    let i = 0;
    while (i < entities.length) {
      const entity = entities[i];
      const from = Math.max(entity.offset, pos);
      const to = Math.min(entity.offset + entity.length, end);
      if (to <= from) {
        i += 1;
        continue;
      }
      let j = i + 1;
      while (j < entities.length && entities[j].offset < to) j += 1;
      if (from > pos) appendText(parent, text.slice(pos, from), linkify, fromBot);
      const node = entityNode(entity, text.slice(from, to), fromBot);
      build(node, text, from, to, entities.slice(i + 1, j), fromBot, linkify && noLinks(node, entity));
      parent.append(node);
      pos = to;
      i = j;
    }
    if (pos < end) appendText(parent, text.slice(pos, end), linkify, fromBot);
  }

  function richText(className, text, entities, fromBot) {
    const node = el("div", { className });
    const sorted = (entities || [])
      .filter((e) => Number.isInteger(e.offset) && Number.isInteger(e.length) && e.length > 0)
      .sort((a, b) => a.offset - b.offset || b.length - a.length);
    build(node, text, 0, text.length, sorted, fromBot, true);
    return node;
  }

  // --- messages --------------------------------------------------------------------------------

  function renderButton(message, button) {
    const label = String(button.text || "");
    if (button.callback_data !== undefined) {
      return el("button", {
        type: "button",
        className: "kb-btn",
        dataset: { callbackData: button.callback_data },
        onclick: (event) => tap(message.message_id, button.callback_data, event.currentTarget),
      }, label);
    }
    if (button.pay) {
      const paid = Boolean(message.invoice && message.invoice.paid_charge_id);
      const paying = state.paying.has(message.message_id);
      return el("button", {
        type: "button",
        className: "kb-btn kb-pay",
        disabled: paid || paying,
        onclick: (event) => pay(message.message_id, event.currentTarget),
      }, paid ? "Paid" : paying ? "Paying…" : label);
    }
    if (typeof button.url === "string" && INVOICE_LINK.test(button.url)) {
      // An invoice link (createInvoiceLink, e.g. a Stars subscription): Telegram opens the payment form.
      const paying = state.paying.has(button.url);
      return el("button", {
        type: "button",
        className: "kb-btn kb-pay",
        disabled: paying,
        onclick: (event) => payLink(button.url, event.currentTarget),
      }, paying ? "Paying…" : label);
    }
    const target = button.url || (button.web_app && button.web_app.url) || (button.login_url && button.login_url.url);
    if (target) {
      const url = safeUrl(target);
      if (url) return el("a", { className: "kb-btn kb-url", href: url, target: "_blank", rel: "noopener noreferrer", title: url }, label);
      return el("button", { type: "button", className: "kb-btn", disabled: true, title: `${target} (not opened here)` }, label);
    }
    if (button.copy_text) {
      return el("button", {
        type: "button",
        className: "kb-btn",
        onclick: () => copy(String(button.copy_text.text || "")),
      }, label);
    }
    return el("button", { type: "button", className: "kb-btn", disabled: true, title: "not supported by the web chat" }, label);
  }

  function renderKeyboard(message) {
    const rows = message.reply_markup && message.reply_markup.inline_keyboard;
    if (!Array.isArray(rows) || rows.length === 0) return null;
    const keyboard = el("div", { className: "keyboard" });
    for (const row of rows) {
      keyboard.append(el("div", { className: "kb-row" }, ...row.map((b) => renderButton(message, b))));
    }
    return keyboard;
  }

  function renderMessage(message) {
    const fromBot = message.from === "bot";
    const node = el("div", {
      className: `msg ${fromBot ? "from-bot" : "from-user"}`,
      dataset: { messageId: message.message_id },
    });
    const payment = message.successful_payment || message.refunded_payment;
    if (payment) {
      node.className = "msg service";
      let what = message.successful_payment ? "You paid" : "Refunded";
      if (message.successful_payment && payment.is_recurring) {
        what = payment.is_first_recurring ? "You subscribed for" : "Subscription renewed:";
      }
      let text = `${what} ${amountLabel(payment.currency, payment.total_amount)}`;
      if (message.successful_payment && payment.subscription_expiration_date) {
        text += ` · paid until ${new Date(payment.subscription_expiration_date * 1000).toLocaleDateString()}`;
      }
      node.append(el("div", { className: "service-text" }, text));
      return node;
    }
    const bubble = el("div", { className: "bubble" });
    if (message.photo) {
      const src = fileUrl(message.photo.file_id);
      const img = el("img", { className: "photo", src, alt: message.photo.filename || "photo", loading: "lazy" });
      img.addEventListener("load", () => stickToBottom());
      bubble.append(link(src, img));
    }
    if (message.document) {
      const doc = message.document;
      const name = doc.filename || "file";
      bubble.append(el("a", {
        className: "document",
        href: fileUrl(doc.file_id),
        download: name,
        title: `Download ${name}`,
      }, el("span", { className: "doc-icon", "aria-hidden": "true" }, "📄"),
      el("span", { className: "doc-name" }, name),
      el("span", { className: "doc-size" }, formatSize(doc.size || 0))));
    }
    if (message.invoice) {
      const invoice = message.invoice;
      bubble.append(el("div", { className: "invoice" },
        el("div", { className: "invoice-title" }, invoice.title || ""),
        el("div", { className: "invoice-description" }, invoice.description || ""),
        el("div", { className: "invoice-amount" }, amountLabel(invoice.currency, invoice.total_amount),
          invoice.paid_charge_id ? el("span", { className: "paid-badge" }, "Paid") : null)));
    }
    if (message.text !== null && message.text !== undefined) {
      bubble.append(richText("text", message.text, message.entities, fromBot));
    }
    if (message.caption) {
      bubble.append(richText("text caption", message.caption, [], fromBot));
    }
    const time = new Date(message.date * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    bubble.append(el("div", { className: "meta" }, message.edited ? el("span", { className: "edited" }, "edited ") : null, time));
    node.append(bubble);
    const keyboard = fromBot ? renderKeyboard(message) : null;
    if (keyboard) node.append(keyboard);
    return node;
  }

  function renderReplyKeyboard(messages) {
    const area = $("reply-keyboard");
    let rows = null;
    for (let i = messages.length - 1; i >= 0; i -= 1) {
      const markup = messages[i].from === "bot" ? messages[i].reply_markup : null;
      if (!markup || markup.inline_keyboard) continue;
      if (Array.isArray(markup.keyboard)) rows = markup.keyboard;
      break; // remove_keyboard / force_reply: no keyboard
    }
    area.replaceChildren();
    area.hidden = !rows;
    if (!rows) return;
    for (const row of rows) {
      const buttons = (Array.isArray(row) ? row : []).map((b) => {
        const label = typeof b === "string" ? b : String((b && b.text) || "");
        return el("button", { type: "button", className: "rk-btn", onclick: () => sendText(label) }, label);
      });
      area.append(el("div", { className: "kb-row" }, ...buttons));
    }
  }

  function atBottom() {
    const box = $("messages");
    return box.scrollHeight - box.scrollTop - box.clientHeight < 48;
  }

  function stickToBottom(force) {
    const box = $("messages");
    if (force || state.stick) box.scrollTop = box.scrollHeight;
  }

  function render(messages) {
    state.messages = messages;
    const box = $("messages");
    state.stick = state.forceScroll || atBottom();
    state.forceScroll = false;
    const visible = messages.filter((m) => !m.deleted);
    const keep = new Set();
    let previous = null;
    for (const message of visible) {
      const key = JSON.stringify(message) + (state.paying.has(message.message_id) ? "#paying" : "");
      let entry = state.rendered.get(message.message_id);
      if (!entry || entry.key !== key) {
        const node = renderMessage(message);
        if (entry && entry.node.parentNode === box) entry.node.replaceWith(node);
        entry = { key, node };
        state.rendered.set(message.message_id, entry);
      }
      keep.add(entry.node);
      const expected = previous ? previous.nextSibling : box.firstChild;
      if (expected !== entry.node) box.insertBefore(entry.node, expected);
      previous = entry.node;
    }
    for (const [id, entry] of state.rendered) {
      if (!keep.has(entry.node)) {
        entry.node.remove();
        state.rendered.delete(id);
      }
    }
    $("empty").hidden = visible.length > 0;
    renderReplyKeyboard(visible);
    stickToBottom();
  }

  function rerender() {
    state.rendered.clear();
    $("messages").replaceChildren();
    render(state.messages);
  }

  // --- acting as the user ----------------------------------------------------------------------

  async function sendText(text) {
    const user = state.user;
    if (!text) return;
    state.forceScroll = true; // your own message scrolls the chat down, as in Telegram
    try {
      await call("POST", `/users/${user.id}/message`, {
        text,
        first_name: user.first_name || undefined,
        language_code: user.language_code || undefined,
      });
      stickToBottom(true); // in case the long poll rendered it before this answer came back
    } catch (err) {
      state.forceScroll = false;
      toast(`Not sent: ${err.message}`, true);
    }
  }

  async function watchAnswer(queryId) {
    // Telegram shows the bot's answerCallbackQuery text as a toast (or an alert).
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      await delay(250);
      let records;
      try {
        records = await call("GET", "/callback_queries");
      } catch (_) {
        return;
      }
      const record = records.find((r) => r.id === queryId);
      const answer = record && record.answers.find((a) => a.accepted);
      if (answer) {
        if (answer.text) toast(answer.text, answer.show_alert);
        const url = answer.url && safeUrl(answer.url);
        if (url) window.open(url, "_blank", "noopener,noreferrer");
        return;
      }
    }
  }

  async function tap(messageId, data, button) {
    button.classList.add("pressed");
    try {
      const result = await call("POST", `/users/${state.user.id}/tap`, { data, message_id: messageId });
      if (result.callback_query_id) watchAnswer(result.callback_query_id);
    } catch (err) {
      toast(`Tap failed: ${err.message}`, true);
    } finally {
      button.classList.remove("pressed");
    }
  }

  async function pay(messageId, button) {
    const userId = state.user.id;
    state.paying.add(messageId);
    button.disabled = true;
    button.textContent = "Paying…";
    try {
      // Waits for the bot's pre-checkout answer (Telegram gives it 10 s).
      const result = await call("POST", `/users/${userId}/pay_invoice`, { message_id: messageId });
      if (result.status === "paid") toast("Payment sent");
      else if (result.status === "declined") toast(`The bot declined the payment: ${result.error_message || ""}`, true);
      else toast("The bot did not confirm the payment in time; nothing was charged.", true);
    } catch (err) {
      toast(`Payment failed: ${err.message}`, true);
    } finally {
      state.paying.delete(messageId);
      if (state.user.id === userId) rerender();
    }
  }

  async function payLink(url, button) {
    const userId = state.user.id;
    state.paying.add(url);
    button.disabled = true;
    button.textContent = "Paying…";
    try {
      const result = await call("POST", `/users/${userId}/pay_link`, { url });
      if (result.status === "paid") toast(result.subscription_id ? "Subscribed" : "Payment sent");
      else if (result.status === "declined") toast(`The bot declined the payment: ${result.error_message || ""}`, true);
      else if (result.status === "insufficient_stars") toast("Not enough Stars", true);
      else toast("The bot did not confirm the payment in time; nothing was charged.", true);
    } catch (err) {
      toast(`Payment failed: ${err.message}`, true);
    } finally {
      state.paying.delete(url);
      if (state.user.id === userId) {
        rerender();
        refreshStars();
      }
    }
  }

  // --- Stars: subscriptions, the payer's balance, refunds ----------------------------------------

  async function refreshStars() {
    const userId = state.user.id;
    let subs;
    let transactions;
    try {
      subs = await call("GET", `/star_subscriptions?user_id=${userId}`);
      transactions = await call("GET", "/star_transactions");
    } catch (_) {
      return;
    }
    if (state.user.id !== userId) return;
    const list = $("stars-subscriptions");
    list.replaceChildren();
    for (const sub of subs) {
      const until = new Date(sub.expires_at * 1000).toLocaleString();
      let status = sub.state === "active" ? (sub.canceled_by_bot ? `cancelled, ends ${until}` : `renews ${until}`)
        : `ended (${sub.ended_for === "missing_balance" ? "not enough Stars" : "cancelled"})`;
      const row = el("li", { className: "stars-sub" },
        el("span", {}, `${sub.title || "Subscription"} · ⭐${sub.amount}/month · ${status}`));
      if (sub.state === "active") {
        row.append(el("button", { type: "button", className: "renew-now", onclick: renewNow }, "Renew now"));
      }
      list.append(row);
    }
    if (subs.length === 0) list.append(el("li", { className: "hint" }, "No Stars subscriptions."));
    const mine = transactions.filter((t) => (t.source || t.receiver || {}).user && (t.source || t.receiver).user.id === userId);
    const refunded = new Set(mine.filter((t) => t.refund).map((t) => t.id));
    const payments = $("stars-payments");
    payments.replaceChildren();
    for (const t of mine) {
      const when = new Date(t.date * 1000).toLocaleString();
      const row = el("li", {}, `${t.refund ? "Refund" : "Payment"} ⭐${t.amount} · ${when}`);
      if (!t.refund && !refunded.has(t.id)) {
        row.append(el("button", { type: "button", className: "chargeback", onclick: () => chargeback(t.id) }, "Chargeback"));
      } else if (!t.refund) {
        row.append(el("span", { className: "refunded-badge" }, " refunded"));
      }
      payments.append(row);
    }
    // Not while the person is typing a new figure into it.
    if (subs.length && document.activeElement !== $("stars-balance")) $("stars-balance").value = String(subs[0].user_stars);
  }

  async function renewNow() {
    try {
      const result = await call("POST", `/users/${state.user.id}/renew_now`, {});
      const event = result.events.find((e) => e.user_id === state.user.id);
      toast(event ? (event.status === "renewed" ? "Renewed: Telegram charged the subscription"
        : `Not renewed (${event.reason === "missing_balance" ? "not enough Stars" : "cancelled"})`) : "Nothing was due");
    } catch (err) {
      toast(`Renew failed: ${err.message}`, true);
    }
    refreshStars();
  }

  async function chargeback(chargeId) {
    try {
      await call("POST", `/users/${state.user.id}/chargeback`, { charge_id: chargeId });
      toast("The payment was charged back");
    } catch (err) {
      toast(`Chargeback failed: ${err.message}`, true);
    }
    refreshStars();
  }

  async function setStars(event) {
    event.preventDefault();
    const stars = Number.parseInt($("stars-balance").value, 10);
    if (!Number.isInteger(stars) || stars < 0) {
      toast("Stars is a whole number, 0 or more", true);
      return;
    }
    try {
      await call("POST", `/users/${state.user.id}/stars`, { stars });
      toast(`Stars balance set to ${stars}`);
    } catch (err) {
      toast(`Not set: ${err.message}`, true);
    }
    refreshStars();
  }

  async function copy(text) {
    try {
      await navigator.clipboard.writeText(text);
      toast("Copied");
    } catch (_) {
      toast(text);
    }
  }

  // --- following the chat ----------------------------------------------------------------------

  async function follow(generation) {
    const chatId = state.user.id;
    let version = -1;
    let failures = 0;
    while (generation === state.generation) {
      const controller = new AbortController();
      state.abort = controller;
      const started = Date.now();
      try {
        const view = await call(
          "GET", `/chats/${chatId}/wait?after_version=${version}&timeout=${POLL_SECONDS}`, undefined, controller.signal);
        if (generation !== state.generation) return;
        failures = 0;
        setStatus(null);
        if (view.version !== version) {
          version = view.version;
          render(view.messages);
          refreshStars();
        } else if (Date.now() - started < 200) {
          await delay(1000); // the stand-in is shutting down: answers at once without news
        }
      } catch (err) {
        if (generation !== state.generation || err.name === "AbortError") return;
        failures += 1;
        setStatus(`No connection to the Telegram stand-in (${err.message}); retrying…`);
        await delay(Math.min(500 * 2 ** failures, 5000));
      }
    }
  }

  function describe(user) {
    const name = user.first_name || `User ${user.id}`;
    return `${name} · id ${user.id}${user.language_code ? ` · ${user.language_code}` : ""}`;
  }

  function switchTo(user) {
    state.user = {
      id: user.id,
      first_name: user.first_name || "",
      language_code: user.language_code || "",
    };
    state.generation += 1;
    if (state.abort) state.abort.abort();
    state.messages = [];
    state.rendered.clear();
    $("messages").replaceChildren();
    $("empty").hidden = false;
    renderReplyKeyboard([]);
    $("who").textContent = describe(state.user);
    $("user-id").value = String(state.user.id);
    $("first-name").value = state.user.first_name;
    $("language").value = state.user.language_code;
    for (const node of document.querySelectorAll(".persona")) {
      node.classList.toggle("active", Number(node.dataset.userId) === state.user.id);
    }
    const next = new URLSearchParams(location.search);
    next.set("user", String(state.user.id));
    if (state.user.first_name) next.set("name", state.user.first_name); else next.delete("name");
    if (state.user.language_code) next.set("lang", state.user.language_code); else next.delete("lang");
    history.replaceState(null, "", `${location.pathname}?${next}`);
    follow(state.generation);
  }

  // --- start -----------------------------------------------------------------------------------

  async function loadConfig() {
    try {
      const response = await fetch("/chat/config.json");
      if (response.ok) return await response.json();
    } catch (_) {
      // served from elsewhere: defaults below
    }
    return { default_user: { id: 100001, first_name: "Demo", language_code: "en" }, personas: [] };
  }

  async function showBot() {
    try {
      const health = await call("GET", "/health");
      const bot = health.bot || {};
      $("bot-name").textContent = bot.first_name || "Bot";
      $("bot-username").textContent = bot.username ? `@${bot.username}` : "";
      $("bot-avatar").textContent = (bot.first_name || "B").slice(0, 1).toUpperCase();
      document.title = `${bot.first_name || "Bot"} · web chat`;
    } catch (err) {
      setStatus(`No connection to the Telegram stand-in (${err.message})`);
    }
  }

  function userFromUrl(fallback) {
    const id = Number.parseInt(query.get("user") || "", 10);
    if (!Number.isInteger(id) || id <= 0) return fallback;
    return {
      id,
      first_name: query.get("name") || (id === fallback.id ? fallback.first_name : `User ${id}`),
      language_code: query.get("lang") || fallback.language_code || "",
    };
  }

  async function main() {
    $("composer").addEventListener("submit", (event) => {
      event.preventDefault();
      const input = $("text");
      const text = input.value.trim();
      if (!text) return;
      input.value = "";
      sendText(text);
    });
    $("stars-form").addEventListener("submit", setStars);
    $("identity").addEventListener("submit", (event) => {
      event.preventDefault();
      const id = Number.parseInt($("user-id").value, 10);
      if (!Number.isInteger(id) || id <= 0) {
        toast("A user id is a positive integer", true);
        return;
      }
      switchTo({ id, first_name: $("first-name").value.trim(), language_code: $("language").value.trim() });
    });
    const config = await loadConfig();
    const personas = $("personas");
    for (const persona of config.personas || []) {
      personas.append(el("button", {
        type: "button",
        className: "persona",
        dataset: { userId: persona.id },
        title: describe(persona),
        onclick: () => switchTo(persona),
      }, persona.label || persona.first_name || `User ${persona.id}`));
    }
    showBot();
    switchTo(userFromUrl(config.default_user));
    $("text").focus();
  }

  document.addEventListener("DOMContentLoaded", main);
})();
