// presets.h: what a new log starts with (DESIGN.md §3): the roles of the sales and production
// seeds, the production-order item type and its workflow. Engine::Open appends them to an
// empty log when Options::load_presets is set; administrators may change them afterwards.
// Thread-safe: pure functions.
#ifndef SPOTFLOW_ENGINE_PRESETS_H_
#define SPOTFLOW_ENGINE_PRESETS_H_

#include <vector>

#include "proto/domain.pb.h"

namespace spotflow::engine {

// Role names of the presets.
inline constexpr char kAccountExecutive[] = "account_executive";
inline constexpr char kSalesAssistant[] = "sales_assistant";
inline constexpr char kOrderEntry[] = "order_entry";
inline constexpr char kSalesManager[] = "sales_manager";
inline constexpr char kProducer[] = "producer";
inline constexpr char kAdmin[] = "admin";
inline constexpr char kAuditor[] = "auditor";
inline constexpr char kClientContact[] = "client_contact";
inline constexpr char kClientRequester[] = "client_requester";

inline constexpr char kProductionOrder[] = "production_order";

std::vector<v1::RoleDefinition> PresetRoles();
v1::WorkflowDefinition ProductionOrderWorkflow();  // version 0: assigned when published
v1::ItemTypeDefinition ProductionOrderType();

}  // namespace spotflow::engine

#endif  // SPOTFLOW_ENGINE_PRESETS_H_
