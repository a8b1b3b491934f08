//! A product's stock and lifecycle: admin stock corrections, edits, discontinuation.

use uuid::Uuid;
use vitrine_contract::Event;

use crate::aggregates::DomainError;

/// Stock beyond this is a typing mistake, not a warehouse.
pub const MAX_STOCK: i32 = 1_000_000;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Product {
    pub id: Uuid,
    pub stock: i32,
    pub discontinued: bool,
}

/// The validated changes of a PATCH (absent = unchanged).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Changes {
    pub name: Option<String>,
    pub description: Option<String>,
    pub price_cents: Option<i64>,
    pub currency: Option<String>,
    pub category_id: Option<Uuid>,
    pub image: Option<String>,
    pub attributes: Option<serde_json::Value>,
    /// A new absolute stock level, recorded as a correction.
    pub stock: Option<i32>,
}

/// A validated new product (its id is the state's).
#[derive(Debug, Clone, PartialEq)]
pub struct NewProduct {
    pub sku: String,
    pub slug: String,
    pub name: String,
    pub description: String,
    pub price_cents: i64,
    pub currency: String,
    pub category_id: Uuid,
    pub stock: i32,
    pub image: Option<String>,
    pub attributes: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Only sent to a product that does not exist yet (`Product::default()` with its new id).
    Create(Box<NewProduct>),
    AdjustStock {
        delta: i32,
    },
    Update(Box<Changes>),
    Discontinue,
}

fn adjust(product: &Product, delta: i32) -> Result<Event, DomainError> {
    let stock = product
        .stock
        .checked_add(delta)
        .filter(|s| (0..=MAX_STOCK).contains(s))
        .ok_or_else(|| {
            DomainError::invalid(
                "delta",
                format!(
                    "stock would become negative or exceed {MAX_STOCK} (it is {})",
                    product.stock
                ),
            )
        })?;
    Ok(Event::StockAdjusted {
        product_id: product.id,
        delta,
        stock,
    })
}

pub fn decide(product: &Product, command: Command) -> Result<Vec<Event>, DomainError> {
    if product.discontinued {
        return Err(DomainError::Conflict("the product is discontinued".into()));
    }
    match command {
        Command::Create(new) => {
            let NewProduct {
                sku,
                slug,
                name,
                description,
                price_cents,
                currency,
                category_id,
                stock,
                image,
                attributes,
            } = *new;
            Ok(vec![Event::ProductCreated {
                product_id: product.id,
                sku,
                slug,
                name,
                description,
                price_cents,
                currency,
                category_id,
                stock,
                image,
                attributes,
            }])
        }
        Command::AdjustStock { delta: 0 } => Err(DomainError::invalid("delta", "must not be 0")),
        Command::AdjustStock { delta } => Ok(vec![adjust(product, delta)?]),
        Command::Discontinue => Ok(vec![Event::ProductDiscontinued {
            product_id: product.id,
        }]),
        Command::Update(changes) => {
            let Changes {
                name,
                description,
                price_cents,
                currency,
                category_id,
                image,
                attributes,
                stock,
            } = *changes;
            let mut events = Vec::new();
            if name.is_some()
                || description.is_some()
                || price_cents.is_some()
                || currency.is_some()
                || category_id.is_some()
                || image.is_some()
                || attributes.is_some()
            {
                events.push(Event::ProductUpdated {
                    product_id: product.id,
                    name,
                    description,
                    price_cents,
                    currency,
                    category_id,
                    image,
                    attributes,
                });
            }
            if let Some(stock) = stock {
                if stock != product.stock {
                    events.push(adjust(product, stock - product.stock).map_err(|_| {
                        DomainError::invalid("stock", format!("must be between 0 and {MAX_STOCK}"))
                    })?);
                }
            }
            if events.is_empty() {
                return Err(DomainError::State("the patch changes nothing".into()));
            }
            Ok(events)
        }
    }
}

pub fn apply(mut product: Product, event: &Event) -> Product {
    match event {
        Event::ProductCreated {
            product_id, stock, ..
        } => {
            product.id = *product_id;
            product.stock = *stock;
        }
        Event::StockAdjusted { stock, .. }
        | Event::StockReserved { stock, .. }
        | Event::StockReleased { stock, .. } => product.stock = *stock,
        Event::ProductDiscontinued { .. } => product.discontinued = true,
        _ => {}
    }
    product
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_stock(stock: i32) -> Product {
        Product {
            id: Uuid::now_v7(),
            stock,
            discontinued: false,
        }
    }

    #[test]
    fn creating_a_product_records_it_with_its_initial_stock() {
        let id = Uuid::now_v7();
        let new = NewProduct {
            sku: "LAMP-1".into(),
            slug: "desk-lamp".into(),
            name: "Desk lamp".into(),
            description: String::new(),
            price_cents: 2500,
            currency: "EUR".into(),
            category_id: Uuid::now_v7(),
            stock: 4,
            image: None,
            attributes: serde_json::json!({}),
        };
        let fresh = Product {
            id,
            ..Product::default()
        };
        let events = decide(&fresh, Command::Create(Box::new(new))).unwrap();
        assert!(matches!(
            events[..],
            [Event::ProductCreated { product_id, stock: 4, .. }] if product_id == id
        ));
        assert_eq!(events.iter().fold(fresh, apply).stock, 4);
    }

    #[test]
    fn stock_corrections_record_the_level_after_them() {
        let p = with_stock(3);
        let events = decide(&p, Command::AdjustStock { delta: -2 }).unwrap();
        assert_eq!(
            events,
            vec![Event::StockAdjusted {
                product_id: p.id,
                delta: -2,
                stock: 1
            }]
        );
        assert_eq!(events.iter().fold(p, apply).stock, 1);
    }

    #[test]
    fn stock_never_goes_negative_by_correction() {
        assert!(matches!(
            decide(&with_stock(3), Command::AdjustStock { delta: -4 }),
            Err(DomainError::Invalid { ref field, .. }) if field == "delta"
        ));
    }

    #[test]
    fn a_discontinued_product_takes_no_more_changes() {
        let p = with_stock(3);
        let gone = decide(&p, Command::Discontinue)
            .unwrap()
            .iter()
            .fold(p, apply);
        assert!(matches!(
            decide(&gone, Command::Discontinue),
            Err(DomainError::Conflict(_))
        ));
        assert!(decide(&gone, Command::AdjustStock { delta: 1 }).is_err());
    }

    #[test]
    fn a_patch_setting_stock_becomes_a_correction_and_an_empty_patch_is_rejected() {
        let p = with_stock(3);
        let changes = Changes {
            name: Some("New".into()),
            stock: Some(10),
            ..Changes::default()
        };
        let events = decide(&p, Command::Update(Box::new(changes))).unwrap();
        assert!(matches!(events[0], Event::ProductUpdated { .. }));
        assert_eq!(
            events[1],
            Event::StockAdjusted {
                product_id: p.id,
                delta: 7,
                stock: 10
            }
        );
        assert!(matches!(
            decide(&p, Command::Update(Box::default())),
            Err(DomainError::State(_))
        ));
    }
}
