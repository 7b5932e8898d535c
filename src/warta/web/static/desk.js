/* The live desk: reads the desktop stream (Server-Sent Events) and lists releases as they arrive.
   Every piece of event data reaches the page through textContent or a checked href. */
(function () {
  "use strict";

  var MAX_ITEMS = 200;
  var root = document.getElementById("desk");
  if (!root) {
    return;
  }
  var text = root.dataset;
  var statusEl = document.getElementById("desk-status");
  var whoEl = document.getElementById("desk-who");
  var noticeEl = document.getElementById("desk-notice");
  var emptyEl = document.getElementById("desk-empty");
  var list = document.getElementById("desk-items");
  var seen = new Set();

  function setStatus(state, label) {
    statusEl.dataset.state = state;
    statusEl.textContent = label;
    if (state === "closed") {
      emptyEl.hidden = true;
    }
  }

  function showNotice(message) {
    noticeEl.textContent = message;
    noticeEl.hidden = false;
  }

  function fill(template, name, value) {
    return String(template || "").split("{" + name + "}").join(value);
  }

  function safeUrl(value) {
    try {
      var url = new URL(String(value), window.location.href);
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
    } catch (err) {
      return null;
    }
  }

  function when(iso) {
    var date = new Date(iso);
    return isNaN(date.getTime()) ? String(iso) : date.toLocaleString();
  }

  function element(tag, className, content) {
    var el = document.createElement(tag);
    if (className) {
      el.className = className;
    }
    if (content !== undefined && content !== null) {
      el.textContent = String(content);
    }
    return el;
  }

  function parse(event) {
    try {
      var data = JSON.parse(event.data);
      return data && typeof data === "object" ? data : null;
    } catch (err) {
      return null;
    }
  }

  function addRelease(data) {
    var key = [data.edition_id, data.version, data.embargoed ? "e" : "p"].join("/");
    if (seen.has(key)) {
      return;
    }
    seen.add(key);

    var item = element("li", "card desk-item desk-new");
    item.dataset.release = String(data.release_id || "");
    if (data.lang) {
      item.lang = String(data.lang);
    }
    item.dir = data.dir === "rtl" ? "rtl" : "ltr";

    var heading = element("h2");
    var href = safeUrl(data.url);
    var link = element(href ? "a" : "span", null, data.headline || "");
    if (href) {
      link.href = href;
    }
    heading.appendChild(link);
    item.appendChild(heading);

    if (data.embargoed && data.embargoed_until) {
      item.appendChild(element("p", "desk-embargo", fill(text.tEmbargo, "time", when(data.embargoed_until))));
    }

    var meta = element("p", "meta");
    if (data.lang) {
      meta.appendChild(element("span", "desk-badge", data.lang));
    }
    var parts = [data.organisation, data.dateline].filter(function (part) {
      return typeof part === "string" && part;
    });
    meta.appendChild(document.createTextNode(parts.join(" · ")));
    if (data.released_at) {
      var time = element("time", null, " · " + when(data.released_at));
      time.dateTime = String(data.released_at);
      meta.appendChild(time);
    }
    item.appendChild(meta);

    if (data.summary) {
      item.appendChild(element("p", "summary", data.summary));
    }
    if (Array.isArray(data.sectors) && data.sectors.length) {
      item.appendChild(element("p", "meta sectors", data.sectors.join(", ")));
    }

    list.insertBefore(item, list.firstChild);
    emptyEl.hidden = true;
    while (list.children.length > MAX_ITEMS) {
      list.removeChild(list.lastChild);
    }
  }

  function markWithdrawn(data) {
    var id = String(data.release_id || "");
    Array.prototype.forEach.call(list.children, function (item) {
      if (item.dataset.release === id && !item.classList.contains("desk-withdrawn")) {
        item.classList.add("desk-withdrawn");
        item.insertBefore(element("p", "desk-gone", text.tWithdrawn), item.children[1] || null);
      }
    });
  }

  var loginEl = document.getElementById("desk-login");

  function closed(label) {
    setStatus("closed", label);
    loginEl.hidden = false;
  }

  // The stream token lives in an HttpOnly cookie sent only to the stream. A `?token=` link is
  // traded for that cookie at once and dropped from the address bar, so it stays out of the
  // history, the stream's URL and the server's logs.
  function tokenInLink() {
    var params = new URLSearchParams(window.location.search);
    var found = params.get("token");
    if (found) {
      params.delete("token");
      var rest = params.toString();
      window.history.replaceState(null, "", window.location.pathname + (rest ? "?" + rest : ""));
    }
    return found;
  }

  function keepToken(value) {
    return fetch(text.session, {
      method: "POST",
      body: new URLSearchParams({ token: value }),
      credentials: "same-origin",
    });
  }

  if (!("EventSource" in window)) {
    closed(text.tClosed);
    return;
  }
  var linked = tokenInLink();
  if (linked) {
    keepToken(linked).then(connect, function () {
      closed(text.tClosed);
    });
  } else if (text.hasToken === "yes") {
    connect();
  } else {
    closed(text.tNoToken);
  }

  function connect() {
    var source = new EventSource(text.stream);
    source.addEventListener("open", function () {
      setStatus("live", text.tLive);
    });
    source.addEventListener("error", function () {
      if (source.readyState === EventSource.CLOSED) {
        closed(text.tClosed);
      } else {
        setStatus("reconnecting", text.tReconnecting);
      }
    });
    source.addEventListener("hello", function (event) {
      var data = parse(event);
      if (data && typeof data.recipient === "string") {
        whoEl.textContent = fill(text.tHello, "name", data.recipient);
        whoEl.hidden = false;
      }
      setStatus("live", text.tLive);
    });
    source.addEventListener("reset", function () {
      showNotice(text.tReset);
    });
    source.addEventListener("release", function (event) {
      var data = parse(event);
      if (data) {
        addRelease(data);
      }
    });
    source.addEventListener("withdrawal", function (event) {
      var data = parse(event);
      if (data) {
        markWithdrawn(data);
      }
    });
    window.addEventListener("pagehide", function () {
      source.close();
    });
  }
})();
