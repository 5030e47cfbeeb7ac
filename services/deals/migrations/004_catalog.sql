-- crm-deals: the catalog (issue 9, SELL_API §6.14–§6.16): products with prices per currency,
-- one order per deal, and line items that copy the product's name, sku and price.
CREATE TABLE products (
    id            bigserial PRIMARY KEY,
    name          text NOT NULL,
    description   text,
    sku           text,
    active        boolean NOT NULL DEFAULT true,
    max_discount  integer NOT NULL DEFAULT 0 CHECK (max_discount BETWEEN 0 AND 100),
    max_markup    integer NOT NULL DEFAULT 0 CHECK (max_markup >= 0),
    cost          numeric(18, 2),
    cost_currency text,
    prices        jsonb NOT NULL DEFAULT '[]',  -- [{"amount": "1599.99", "currency": "USD"}]
    creator_id    bigint,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE orders (
    id         bigserial PRIMARY KEY,
    deal_id    bigint NOT NULL UNIQUE REFERENCES deals (id) ON DELETE CASCADE, -- one order per deal
    discount   integer NOT NULL DEFAULT 0 CHECK (discount BETWEEN 0 AND 100),
    creator_id bigint,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- No foreign key to products: deleting a product leaves the line items that copied it alone.
CREATE TABLE line_items (
    id          bigserial PRIMARY KEY,
    order_id    bigint NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    product_id  bigint NOT NULL,
    name        text NOT NULL,
    sku         text,
    description text,
    currency    text NOT NULL,
    price       numeric(18, 2) NOT NULL,
    variation   numeric(9, 2) NOT NULL DEFAULT 0,
    value       numeric(18, 2) NOT NULL,
    quantity    integer NOT NULL DEFAULT 1 CHECK (quantity >= 1),
    creator_id  bigint,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX line_items_order ON line_items (order_id, id);
