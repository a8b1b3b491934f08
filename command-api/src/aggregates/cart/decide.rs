//! A session's cart: lines of product and quantity, 1 to the configured limit each
//! (`MAX_LINE_QUANTITY`, 10 by default; never more than [`MAX_QUANTITY`]).

use std::collections::BTreeMap;

use uuid::Uuid;
use vitrine_contract::Event;

use crate::aggregates::DomainError;

/// The most any configuration may allow per line (the `cart_lines` CHECK).
pub const MAX_QUANTITY: i32 = 999;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cart {
    pub session_id: Uuid,
    /// product id → quantity, in id order (the order checkout locks products in).
    pub lines: BTreeMap<Uuid, i32>,
}

/// What the route looked up about the product a command names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProductInfo {
    pub id: Uuid,
    pub discontinued: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `max`: the most units the line may hold.
    Add {
        product: ProductInfo,
        quantity: i32,
        max: i32,
    },
    /// 0 removes the line.
    Set {
        product: ProductInfo,
        quantity: i32,
        max: i32,
    },
    Remove {
        product_id: Uuid,
    },
    /// Removes every line.
    Clear,
}

fn available(product: &ProductInfo) -> Result<(), DomainError> {
    if product.discontinued {
        return Err(DomainError::invalid(
            "product_id",
            "the product is discontinued",
        ));
    }
    Ok(())
}

pub fn decide(cart: &Cart, command: Command) -> Result<Vec<Event>, DomainError> {
    let session_id = cart.session_id;
    match command {
        Command::Add {
            product,
            quantity,
            max,
        } => {
            if !(1..=max).contains(&quantity) {
                return Err(DomainError::invalid(
                    "quantity",
                    format!("must be between 1 and {max}"),
                ));
            }
            available(&product)?;
            let total = cart.lines.get(&product.id).copied().unwrap_or(0) + quantity;
            if total > max {
                return Err(DomainError::invalid(
                    "quantity",
                    format!("the line would hold more than {max}"),
                ));
            }
            Ok(vec![Event::CartItemAdded {
                session_id,
                product_id: product.id,
                added: quantity,
                quantity: total,
            }])
        }
        Command::Set {
            product,
            quantity: 0,
            ..
        } => decide(
            cart,
            Command::Remove {
                product_id: product.id,
            },
        ),
        Command::Set {
            product,
            quantity,
            max,
        } => {
            if !(0..=max).contains(&quantity) {
                return Err(DomainError::invalid(
                    "quantity",
                    format!("must be between 0 and {max}"),
                ));
            }
            available(&product)?;
            Ok(vec![Event::CartItemQuantitySet {
                session_id,
                product_id: product.id,
                quantity,
            }])
        }
        Command::Remove { product_id } => {
            if !cart.lines.contains_key(&product_id) {
                return Err(DomainError::NotFound("cart item"));
            }
            Ok(vec![Event::CartItemRemoved {
                session_id,
                product_id,
            }])
        }
        Command::Clear => {
            if cart.lines.is_empty() {
                return Err(DomainError::State("the cart is already empty".into()));
            }
            Ok(cart
                .lines
                .keys()
                .map(|&product_id| Event::CartItemRemoved {
                    session_id,
                    product_id,
                })
                .collect())
        }
    }
}

pub fn apply(mut cart: Cart, event: &Event) -> Cart {
    match event {
        Event::CartItemAdded {
            session_id,
            product_id,
            quantity,
            ..
        }
        | Event::CartItemQuantitySet {
            session_id,
            product_id,
            quantity,
        } => {
            cart.session_id = *session_id;
            cart.lines.insert(*product_id, *quantity);
        }
        Event::CartItemRemoved { product_id, .. } => {
            cart.lines.remove(product_id);
        }
        Event::CartCheckedOut { .. } => cart.lines.clear(),
        _ => {}
    }
    cart
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product() -> ProductInfo {
        ProductInfo {
            id: Uuid::now_v7(),
            discontinued: false,
        }
    }

    #[test]
    fn adding_twice_accumulates_the_line() {
        let cart = Cart {
            session_id: Uuid::now_v7(),
            lines: BTreeMap::new(),
        };
        let p = product();
        let first = decide(
            &cart,
            Command::Add {
                product: p,
                quantity: 2,
                max: 10,
            },
        )
        .unwrap();
        let cart = first.iter().fold(cart, apply);
        let second = decide(
            &cart,
            Command::Add {
                product: p,
                quantity: 3,
                max: 10,
            },
        )
        .unwrap();
        assert!(matches!(
            second[0],
            Event::CartItemAdded {
                added: 3,
                quantity: 5,
                ..
            }
        ));
        assert_eq!(second.iter().fold(cart, apply).lines[&p.id], 5);
    }

    #[test]
    fn quantities_beyond_the_limit_or_below_1_are_rejected() {
        let p = product();
        let cart = Cart {
            session_id: Uuid::now_v7(),
            lines: [(p.id, 7)].into(),
        };
        let add = |quantity| Command::Add {
            product: p,
            quantity,
            max: 10,
        };
        for quantity in [0, -1, 11] {
            assert!(matches!(
                decide(&cart, add(quantity)),
                Err(DomainError::Invalid { ref field, .. }) if field == "quantity"
            ));
        }
        assert!(decide(&cart, add(4)).is_err(), "7 + 4 is over 10");
        assert!(decide(&cart, add(3)).is_ok());
        let set = |quantity| Command::Set {
            product: p,
            quantity,
            max: 10,
        };
        assert!(decide(&cart, set(11)).is_err());
        assert!(decide(&cart, set(10)).is_ok());
    }

    #[test]
    fn setting_zero_removes_and_removing_a_missing_line_is_not_found() {
        let p = product();
        let cart = Cart {
            session_id: Uuid::now_v7(),
            lines: [(p.id, 1)].into(),
        };
        let events = decide(
            &cart,
            Command::Set {
                product: p,
                quantity: 0,
                max: 10,
            },
        )
        .unwrap();
        assert!(matches!(events[0], Event::CartItemRemoved { .. }));
        let empty = events.iter().fold(cart, apply);
        assert!(empty.lines.is_empty());
        assert_eq!(
            decide(&empty, Command::Remove { product_id: p.id }),
            Err(DomainError::NotFound("cart item"))
        );
    }

    #[test]
    fn clearing_removes_every_line_and_an_empty_cart_cannot_be_cleared() {
        let (a, b) = (product(), product());
        let cart = Cart {
            session_id: Uuid::now_v7(),
            lines: [(a.id, 2), (b.id, 1)].into(),
        };
        let events = decide(&cart, Command::Clear).unwrap();
        assert_eq!(events.len(), 2);
        assert!(events
            .iter()
            .all(|e| matches!(e, Event::CartItemRemoved { .. })));
        let empty = events.iter().fold(cart, apply);
        assert!(empty.lines.is_empty());
        assert!(matches!(
            decide(&empty, Command::Clear),
            Err(DomainError::State(_))
        ));
    }

    #[test]
    fn a_discontinued_product_cannot_be_added() {
        let cart = Cart::default();
        let p = ProductInfo {
            id: Uuid::now_v7(),
            discontinued: true,
        };
        assert!(decide(
            &cart,
            Command::Add {
                product: p,
                quantity: 1,
                max: 10,
            }
        )
        .is_err());
    }
}
