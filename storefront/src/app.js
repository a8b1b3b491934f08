// Vitrine storefront: one page, hash routes, the public API only (docs/api.md).
// Every write answers the stream version it reached; the read that follows passes it as
// `min_version`, so the shopper sees their own change at once (read-your-writes).
// Public reads use `cache: "no-cache"`: the browser revalidates with the ETag (a 304
// from the edge), so what it shows is never older than the edge's bound (docs/caching.md).
"use strict";
(function () {
  const API = (document.querySelector('meta[name="vitrine-api"]').content || "").replace(/\/$/, "");
  const NO_IMAGE = document.body.dataset.noImage;
  const view = document.getElementById("view");
  const TOKEN_KEY = "vitrine.token";

  // ---- DOM helpers: text only through textContent (names come from the API) ----
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else if (k === "dataset") Object.assign(el.dataset, v);
      else el.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }
  // data-shown: the route the view shows now (tests wait for it after navigating)
  function show(...nodes) { view.replaceChildren(...nodes); view.dataset.shown = location.hash || "#/"; window.scrollTo(0, 0); }
  // Each route renders through its own `show`, which drops the view when the shopper has
  // moved on meanwhile (a slow answer never replaces a newer page).
  let routeSeq = 0;
  function money(cents, currency) {
    try { return new Intl.NumberFormat("en-IE", { style: "currency", currency: currency || "EUR" }).format(cents / 100); }
    catch (_) { return (cents / 100).toFixed(2) + " " + currency; }
  }
  const STOCK = { in_stock: "In stock", low_stock: "Only a few left", out_of_stock: "Out of stock", discontinued: "Discontinued" };
  const STATUS = { placed: "Placed, awaiting payment", paid: "Paid", shipped: "Shipped", cancelled: "Cancelled", expired: "Expired (not paid in time)" };
  function notice(text, error) {
    const n = document.getElementById("notice");
    n.textContent = text; n.className = "notice" + (error ? " error" : ""); n.hidden = false;
    clearTimeout(notice.t); notice.t = setTimeout(() => { n.hidden = true; }, 4000);
  }
  function img(url, alt) {
    return h("img", { src: url || NO_IMAGE, alt: alt, loading: "lazy", width: 240, height: 240,
      onerror: (e) => { if (e.target.src.indexOf(NO_IMAGE) < 0) e.target.src = NO_IMAGE; } });
  }

  // ---- the API ----
  class ApiError extends Error {
    constructor(status, problem) { super((problem && (problem.detail || problem.title)) || ("HTTP " + status)); this.status = status; this.problem = problem; }
  }
  async function call(method, path, { body, auth, headers, retries = 3 } = {}) {
    const init = { method, headers: Object.assign({ Accept: "application/json" }, headers || {}) };
    if (method === "GET") init.cache = "no-cache";
    if (body !== undefined) { init.body = JSON.stringify(body); init.headers["Content-Type"] = "application/json"; }
    if (auth) init.headers.Authorization = "Bearer " + (await token());
    for (let attempt = 0; ; attempt++) {
      const r = await fetch(API + path, init);
      if (r.status === 401 && auth && attempt === 0) { // an expired session: open a new one
        localStorage.removeItem(TOKEN_KEY);
        init.headers.Authorization = "Bearer " + (await token());
        continue;
      }
      // 503 not-yet (min_version not reached) or busy: Retry-After 1
      if (r.status === 503 && attempt < retries) { await new Promise((ok) => setTimeout(ok, 1000)); continue; }
      const text = await r.text();
      let data = null;
      try { data = text ? JSON.parse(text) : null; } catch (_) { data = null; }
      if (!r.ok) throw new ApiError(r.status, data);
      return data;
    }
  }
  let opening = null;
  async function token() {
    const have = localStorage.getItem(TOKEN_KEY);
    if (have) return have;
    if (!opening) {
      opening = fetch(API + "/api/v1/sessions/", { method: "POST" })
        .then((r) => { if (!r.ok) throw new ApiError(r.status, null); return r.json(); })
        .then((s) => { localStorage.setItem(TOKEN_KEY, s.token); return s.token; })
        .finally(() => { opening = null; });
    }
    return opening;
  }
  function q(params) {
    const s = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") s.set(k, v);
    const t = s.toString();
    return t ? "?" + t : "";
  }

  // ---- routes ----
  function route() {
    const mine = ++routeSeq;
    const render = (...nodes) => { if (mine === routeSeq) show(...nodes); };
    const raw = location.hash.replace(/^#/, "") || "/";
    const [path, query] = raw.split("?");
    const params = new URLSearchParams(query || "");
    const parts = path.split("/").filter(Boolean);
    const go = {
      "": () => listPage(params, render),
      products: () => (parts[1] ? productPage(parts[1], params, render) : listPage(params, render)),
      search: () => searchPage(params, render),
      cart: () => cartPage(params, render),
      orders: () => (parts[1] ? orderPage(parts[1], params, render) : ordersPage(render)),
    }[parts[0] || ""];
    highlightCategory(params.get("category") || "");
    Promise.resolve(go ? go() : render(h("h1", {}, "Not found"))).catch((e) => failed(e, render));
  }
  function failed(e, show) {
    console.error(e);
    if (e instanceof ApiError && e.status === 404) show(h("h1", {}, "Not found"), h("p", { class: "muted" }, e.message));
    else show(h("h1", {}, "Something went wrong"), h("p", { class: "muted", id: "error" }, e.message || String(e)));
  }
  function link(hash, params) { return "#" + hash + q(params || {}); }

  let categoryTree = [];
  async function loadCategories() {
    const doc = await call("GET", "/api/v1/categories/");
    categoryTree = doc.categories || [];
    const tree = (nodes) => h("ul", {}, nodes.map((c) => h("li", {},
      h("a", { href: link("/", { category: c.slug }), "data-slug": c.slug }, c.name),
      c.children && c.children.length ? tree(c.children) : null)));
    document.getElementById("categories").replaceChildren(
      h("h2", {}, "Categories"),
      h("ul", {}, h("li", {}, h("a", { href: "#/", "data-slug": "" }, "All products"))),
      tree(categoryTree));
    highlightCategory(new URLSearchParams((location.hash.split("?")[1]) || "").get("category") || "");
  }
  function highlightCategory(slug) {
    // only on the product list: a product, the cart or an order belong to no category
    const path = (location.hash.replace(/^#/, "") || "/").split("?")[0];
    const onList = path === "/" || path === "/products" || path === "/products/";
    for (const a of document.querySelectorAll("#categories a")) a.classList.toggle("active", onList && a.dataset.slug === slug);
  }

  function card(p) {
    return h("article", { class: "card product-card", "data-id": p.id },
      h("a", { href: link("/products/" + p.id) }, img(p.image_url, p.name)),
      h("a", { class: "name", href: link("/products/" + p.id) }, p.name),
      h("span", { class: "price" }, money(p.price_cents, p.currency)),
      h("span", { class: "stock " + p.stock_status }, STOCK[p.stock_status] || p.stock_status));
  }
  function pager(doc, make) {
    if (!doc.pages || doc.pages <= 1) return null;
    return h("nav", { class: "pager", "aria-label": "Pages" },
      doc.page > 1 ? h("a", { id: "prev-page", href: make(doc.page - 1) }, "‹ Previous") : null,
      h("span", { id: "page-info" }, "Page " + doc.page + " of " + doc.pages),
      doc.page < doc.pages ? h("a", { id: "next-page", href: make(doc.page + 1) }, "Next ›") : null);
  }

  async function listPage(params, show) {
    const category = params.get("category") || "";
    const sort = params.get("sort") || "name";
    const page = params.get("page") || "1";
    const doc = await call("GET", "/api/v1/products/" + q({ category, sort, page: page === "1" ? "" : page }));
    const sorter = h("select", { id: "sort", "aria-label": "Sort",
      onchange: (e) => { location.hash = link("/", { category, sort: e.target.value }); } },
      [["name", "Name"], ["price", "Price: low to high"], ["-price", "Price: high to low"], ["newest", "Newest"]]
        .map(([v, label]) => h("option", { value: v, selected: v === sort }, label)));
    const title = category ? (findCategory(categoryTree, category) || { name: category }).name : "All products";
    show(
      h("div", { class: "toolbar" }, h("h1", { id: "list-title" }, title),
        h("span", { class: "muted", id: "list-total" }, doc.total + " products"), h("label", {}, "Sort ", sorter)),
      h("div", { class: "grid", id: "product-grid" }, doc.items.map(card)),
      pager(doc, (n) => link("/", { category, sort, page: n })));
  }
  function findCategory(nodes, slug) {
    for (const c of nodes) { if (c.slug === slug) return c; const d = findCategory(c.children || [], slug); if (d) return d; }
    return null;
  }

  async function searchPage(params, show) {
    const text = (params.get("q") || "").trim();
    const page = params.get("page") || "1";
    document.getElementById("search-input").value = text;
    if (!text) return show(h("h1", {}, "Search"), h("p", { class: "muted" }, "Type what you are looking for."));
    const doc = await call("GET", "/api/v1/products/search/" + q({ q: text, page: page === "1" ? "" : page }));
    show(
      h("div", { class: "toolbar" }, h("h1", { id: "list-title" }, "Results for “" + text + "”"),
        h("span", { class: "muted", id: "list-total" }, doc.total + " products")),
      doc.items.length ? h("div", { class: "grid", id: "product-grid" }, doc.items.map(card))
        : h("p", { class: "muted", id: "no-results" }, "Nothing matches."),
      pager(doc, (n) => link("/search", { q: text, page: n })));
  }

  async function productPage(id, params, show) {
    const [p, recs] = await Promise.all([
      call("GET", "/api/v1/products/" + encodeURIComponent(id) + "/" + q({ min_version: params.get("v") })),
      call("GET", "/api/v1/products/" + encodeURIComponent(id) + "/recommendations/").catch(() => ({ items: [] })),
    ]);
    const qty = h("input", { id: "quantity", type: "number", min: 1, max: 10, value: 1, "aria-label": "Quantity" });
    const buyable = p.stock_status === "in_stock" || p.stock_status === "low_stock";
    const add = h("button", { id: "add-to-cart", disabled: !buyable, onclick: async () => {
      add.disabled = true;
      try {
        const r = await call("POST", "/api/v1/cart/", { auth: true, body: { product_id: p.id, quantity: Number(qty.value) || 1 } });
        notice("Added " + p.name + " to your cart");
        await refreshCartCount(r.version);
      } catch (e) { notice(e.message, true); } finally { add.disabled = !buyable; }
    } }, "Add to cart");
    show(
      h("article", { class: "detail", id: "product-detail", "data-id": p.id },
        img(p.image_url, p.name),
        h("div", {},
          p.category ? h("a", { href: link("/", { category: p.category.slug }), class: "muted" }, p.category.name) : null,
          h("h1", { id: "product-name" }, p.name),
          h("div", { class: "price", id: "product-price" }, money(p.price_cents, p.currency)),
          h("div", { class: "stock " + p.stock_status, id: "product-stock" }, STOCK[p.stock_status] || p.stock_status),
          h("p", { id: "product-description" }, p.description),
          h("p", { class: "muted" }, "SKU " + p.sku),
          h("div", { class: "buy" }, qty, add))),
      h("section", { id: "recommendations" }, h("h2", {}, "Bought together"),
        recs.items && recs.items.length ? h("div", { class: "grid" }, recs.items.map((r) => card(Object.assign({ stock_status: "" }, r))))
          : h("p", { class: "muted" }, "No recommendations yet.")));
  }

  async function refreshCartCount(minVersion) {
    try {
      const cart = await call("GET", "/api/v1/cart/" + q({ min_version: minVersion }), { auth: true });
      document.getElementById("cart-count").textContent = cart.item_count || 0;
      return cart;
    } catch (e) { return null; }
  }

  async function cartPage(params, show) {
    const cart = await call("GET", "/api/v1/cart/" + q({ min_version: params.get("v") }), { auth: true });
    document.getElementById("cart-count").textContent = cart.item_count || 0;
    if (!cart.lines || !cart.lines.length) return show(h("h1", {}, "Your cart"), h("p", { id: "cart-empty", class: "muted" }, "Your cart is empty."));
    const setQty = async (pid, n) => {
      try {
        const r = await call("PUT", "/api/v1/cart/items/" + pid + "/", { auth: true, body: { quantity: n } });
        location.hash = link("/cart", { v: r.version });
      } catch (e) { notice(e.message, true); }
    };
    const checkout = h("button", { id: "checkout", onclick: async () => {
      checkout.disabled = true;
      try {
        const key = (crypto.randomUUID && crypto.randomUUID()) || String(Date.now()) + Math.random();
        const r = await call("POST", "/api/v1/checkout/", { auth: true, headers: { "Idempotency-Key": key } });
        document.getElementById("cart-count").textContent = "0";
        location.hash = link("/orders/" + (r.order_id || r.id), { v: r.version });
      } catch (e) { notice(e.message, true); checkout.disabled = false; }
    } }, "Check out");
    show(h("h1", {}, "Your cart"),
      h("table", { id: "cart-lines" },
        h("thead", {}, h("tr", {}, h("th", {}, "Product"), h("th", { class: "num" }, "Price"), h("th", { class: "num" }, "Quantity"), h("th", { class: "num" }, "Total"))),
        h("tbody", {}, cart.lines.map((l) => h("tr", { class: "cart-line", "data-product": l.product_id },
          h("td", {}, h("a", { href: link("/products/" + l.product_id) }, l.name)),
          h("td", { class: "num" }, money(l.unit_price_cents, l.currency)),
          h("td", { class: "num" }, h("input", { type: "number", min: 0, max: 10, value: l.quantity, class: "line-qty", "aria-label": "Quantity of " + l.name,
            onchange: (e) => setQty(l.product_id, Number(e.target.value)) })),
          h("td", { class: "num" }, money(l.line_total_cents, l.currency)))))),
      h("p", { class: "panel" }, h("strong", {}, "Total "), h("span", { id: "cart-total", class: "price" }, money(cart.total_cents, cart.currency)),
        " (" + cart.item_count + " items) ", checkout));
  }

  async function orderPage(id, params, show) {
    const order = await call("GET", "/api/v1/orders/" + encodeURIComponent(id) + "/" + q({ min_version: params.get("v") }), { auth: true });
    const pay = h("button", { id: "pay", onclick: async () => {
      pay.disabled = true;
      try {
        const r = await call("POST", "/api/v1/orders/" + order.id + "/pay/", { auth: true });
        location.hash = link("/orders/" + order.id, { v: r.version });
      } catch (e) { notice(e.message, true); pay.disabled = false; }
    } }, "Pay " + money(order.total_cents, order.currency));
    const cancel = h("button", { id: "cancel", class: "secondary", onclick: async () => {
      try {
        const r = await call("POST", "/api/v1/orders/" + order.id + "/cancel/", { auth: true });
        location.hash = link("/orders/" + order.id, { v: r.version });
      } catch (e) { notice(e.message, true); }
    } }, "Cancel order");
    const pending = order.status === "placed" && order.payment_status === "pending";
    show(
      h("h1", {}, "Order ", h("span", { id: "order-id", class: "muted" }, order.id.slice(0, 8))),
      h("div", { class: "panel" },
        h("p", {}, "Status: ", h("span", { id: "order-status", class: "status " + order.status, "data-status": order.status }, STATUS[order.status] || order.status)),
        h("p", {}, "Payment: ", h("span", { id: "payment-status", "data-status": order.payment_status },
          { none: "not started", pending: "started, waiting for the payment provider", paid: "paid", failed: "failed: try again" }[order.payment_status] || order.payment_status)),
        order.pay_by && order.status === "placed" ? h("p", { class: "muted" }, "Pay by " + new Date(order.pay_by).toLocaleString()) : null,
        order.status === "placed" && !pending ? h("p", {}, pay, " ", cancel) : null),
      h("table", { id: "order-lines" },
        h("tbody", {}, order.lines.map((l) => h("tr", { class: "order-line" },
          h("td", {}, l.name), h("td", { class: "num" }, "× " + l.quantity), h("td", { class: "num" }, money(l.line_total_cents, l.currency))))),
        h("tfoot", {}, h("tr", {}, h("th", {}, "Total"), h("th", {}), h("th", { class: "num", id: "order-total" }, money(order.total_cents, order.currency))))),
      h("p", {}, h("a", { href: "#/orders" }, "All your orders")));
    if (pending) { // the provider answers the store, not this page: look again shortly
      clearTimeout(orderPage.t);
      const here = location.hash;
      orderPage.t = setTimeout(() => { if (location.hash === here) route(); }, 2000);
    }
  }

  async function ordersPage(show) {
    const doc = await call("GET", "/api/v1/orders/", { auth: true });
    show(h("h1", {}, "Your orders"),
      doc.orders && doc.orders.length ? h("table", { id: "orders" }, h("tbody", {}, doc.orders.map((o) => h("tr", { class: "order-row" },
        h("td", {}, h("a", { href: link("/orders/" + o.id) }, o.id.slice(0, 8))),
        h("td", {}, h("span", { class: "status " + o.status }, STATUS[o.status] || o.status)),
        h("td", { class: "num" }, money(o.total_cents, o.currency)),
        h("td", { class: "muted" }, o.placed_at ? new Date(o.placed_at).toLocaleString() : "")))))
        : h("p", { class: "muted" }, "No orders yet."));
  }

  document.getElementById("search-form").addEventListener("submit", (e) => {
    e.preventDefault();
    location.hash = link("/search", { q: document.getElementById("search-input").value.trim() });
  });
  window.addEventListener("hashchange", route);
  loadCategories().catch((e) => console.error(e));
  if (localStorage.getItem(TOKEN_KEY)) refreshCartCount();
  route();
})();
