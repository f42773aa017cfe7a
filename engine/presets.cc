// The preset roles follow the privilege table of DESIGN.md §3; the workflow follows the
// production-order lifecycle of seed 000.
#include "engine/presets.h"

#include <initializer_list>
#include <string>
#include <utility>

namespace spotflow::engine {
namespace {

using v1::Privilege;
using v1::Scope;

v1::RoleDefinition Role(const char* name, const char* title,
                        std::initializer_list<std::pair<Privilege, Scope>> grants) {
  v1::RoleDefinition role;
  role.set_name(name);
  role.set_title(title);
  for (const auto& [privilege, scope] : grants) {
    v1::Grant* grant = role.add_grants();
    grant->set_privilege(privilege);
    grant->set_scope(scope);
  }
  return role;
}

}  // namespace

std::vector<v1::RoleDefinition> PresetRoles() {
  using v1::ALL;
  using v1::OWN;
  std::vector<v1::RoleDefinition> roles;
  roles.push_back(Role(kAccountExecutive, "Account Executive",
                       {{v1::ORDER_MANAGE, OWN},
                        {v1::ORDER_VIEW, OWN},
                        {v1::REVISION_APPROVE, OWN},
                        {v1::REVISION_REVIEW, OWN},
                        {v1::SPOT_UPLOAD, OWN},
                        {v1::FLIGHT_CHANGE_REQUEST, OWN},
                        {v1::ORDER_DELETE, OWN},
                        {v1::CLIENT_MANAGE, OWN},
                        {v1::CLIENT_DELETE, OWN}}));
  // Seed 000: the same as an AE, but no approving scripts or spots, no deleting orders, clients
  // or contacts.
  for (auto [name, title] :
       {std::pair{kSalesAssistant, "Sales Assistant"}, std::pair{kOrderEntry, "Order Entry"}}) {
    roles.push_back(Role(name, title,
                         {{v1::ORDER_MANAGE, OWN},
                          {v1::ORDER_VIEW, OWN},
                          {v1::REVISION_REVIEW, OWN},
                          {v1::SPOT_UPLOAD, OWN},
                          {v1::FLIGHT_CHANGE_REQUEST, OWN},
                          {v1::CLIENT_MANAGE, OWN}}));
  }
  roles.push_back(Role(kSalesManager, "Sales Manager",
                       {{v1::ORDER_MANAGE, ALL},
                        {v1::ORDER_VIEW, ALL},
                        {v1::REVISION_APPROVE, ALL},
                        {v1::REVISION_REVIEW, ALL},
                        {v1::SPOT_UPLOAD, ALL},
                        {v1::FLIGHT_CHANGE_REQUEST, ALL},
                        {v1::FLIGHT_CHANGE_DECIDE, ALL},
                        {v1::ORDER_DELETE, ALL},
                        {v1::CLIENT_MANAGE, ALL},
                        {v1::CLIENT_DELETE, ALL},
                        {v1::ACCOUNT_REASSIGN, ALL},
                        // Seed 002: the budgets "the sales team will be measured against".
                        {v1::BUDGET_MANAGE, v1::TEAM}}));
  roles.push_back(Role(kProducer, "Producer",
                       {{v1::ORDER_VIEW, ALL},
                        {v1::REVISION_REVIEW, OWN},
                        {v1::REVISION_WRITE, ALL},
                        {v1::SPOT_UPLOAD, ALL},
                        {v1::FLIGHT_CHANGE_DECIDE, ALL}}));
  roles.push_back(
      Role(kAdmin, "Administrator",
           {{v1::ORDER_VIEW, ALL}, {v1::ADMIN_CONFIGURE, ALL}, {v1::EVENTS_READ, ALL}}));
  roles.push_back(Role(kAuditor, "Auditor", {{v1::ORDER_VIEW, ALL}, {v1::EVENTS_READ, ALL}}));
  // A client contact's own login: sees its company's orders, answers what was forwarded to it.
  roles.push_back(
      Role(kClientContact, "Client contact", {{v1::ORDER_VIEW, OWN}, {v1::CLIENT_ANSWER, OWN}}));
  // A contact's login that also submits requests for its company (seed 001's client).
  roles.push_back(
      Role(kClientRequester, "Client requester",
           {{v1::ORDER_VIEW, OWN}, {v1::CLIENT_ANSWER, OWN}, {v1::REQUEST_SUBMIT, OWN}}));
  return roles;
}

v1::WorkflowDefinition ProductionOrderWorkflow() {
  v1::WorkflowDefinition workflow;
  workflow.set_name(kProductionOrder);
  auto state = [&](const char* name, const char* title, bool terminal = false) {
    v1::WorkflowState* s = workflow.add_states();
    s->set_name(name);
    s->set_title(title);
    s->set_terminal(terminal);
  };
  state("awaiting_script", "Awaiting script");
  state("script_review", "Script in review");
  state("script_client_review", "Script with the client");
  state("script_changes_requested", "Script changes requested");
  state("awaiting_spot", "Awaiting spot");
  state("spot_review", "Spot in review");
  state("spot_client_review", "Spot with the client");
  state("spot_changes_requested", "Spot changes requested");
  state("spot_approved", "Spot approved");
  state("completed", "Completed", /*terminal=*/true);

  auto initial = [&](v1::OrderKind kind, const char* name) {
    v1::InitialState* s = workflow.add_initial_states();
    s->set_kind(kind);
    s->set_state(name);
  };
  initial(v1::PRODUCTION, "awaiting_script");
  initial(v1::PROVIDED, "awaiting_spot");
  initial(v1::REUSE, "spot_approved");

  auto transition = [&](const char* from, const char* action, const char* to, Privilege privilege,
                        std::initializer_list<v1::Condition> conditions = {}) {
    v1::Transition* t = workflow.add_transitions();
    t->set_from(from);
    t->set_action(action);
    t->set_to(to);
    t->set_privilege(privilege);
    for (v1::Condition c : conditions) t->add_conditions(c);
  };
  // Scripts: production writes, the AE approves or forwards, the client answers.
  transition("awaiting_script", "submit_script", "script_review", v1::REVISION_WRITE);
  transition("script_review", "submit_script", "script_review", v1::REVISION_WRITE);
  transition("script_changes_requested", "submit_script", "script_review", v1::REVISION_WRITE);
  transition("script_review", "approve_script", "awaiting_spot", v1::REVISION_APPROVE);
  transition("script_review", "request_script_changes", "script_changes_requested",
             v1::REVISION_REVIEW);
  transition("script_review", "forward_script", "script_client_review", v1::REVISION_REVIEW);
  // Forwarding again while the client has it sends it to another contact (say the first has
  // left the company) or reminds the same one.
  transition("script_client_review", "forward_script", "script_client_review", v1::REVISION_REVIEW);
  transition("script_client_review", "client_approve_script", "awaiting_spot", v1::CLIENT_ANSWER);
  transition("script_client_review", "client_request_script_changes", "script_changes_requested",
             v1::CLIENT_ANSWER);
  // Spots: recorded by production, or uploaded when the client or agency provides them.
  for (const char* from : {"awaiting_spot", "spot_review", "spot_changes_requested"}) {
    transition(from, "record_spot", "spot_review", v1::REVISION_WRITE);
    transition(from, "upload_spot", "spot_review", v1::SPOT_UPLOAD);
  }
  transition("spot_review", "approve_spot", "spot_approved", v1::REVISION_APPROVE);
  transition("spot_review", "request_spot_changes", "spot_changes_requested", v1::REVISION_REVIEW);
  transition("spot_review", "forward_spot", "spot_client_review", v1::REVISION_REVIEW);
  transition("spot_client_review", "forward_spot", "spot_client_review", v1::REVISION_REVIEW);
  transition("spot_client_review", "client_approve_spot", "spot_approved", v1::CLIENT_ANSWER);
  transition("spot_client_review", "client_request_spot_changes", "spot_changes_requested",
             v1::CLIENT_ANSWER);
  // The approved spot is delivered and the order completes.
  transition("spot_approved", "deliver", "completed", v1::SPOT_UPLOAD, {v1::SPOT_APPROVED});
  return workflow;
}

v1::ItemTypeDefinition ProductionOrderType() {
  v1::ItemTypeDefinition type;
  type.set_name(kProductionOrder);
  type.set_title("Production order");
  type.set_key_format("PO-{yyyy}-{seq:5}");
  type.set_workflow(kProductionOrder);
  type.mutable_facets()->add_artifacts("script");
  type.mutable_facets()->add_artifacts("spot");
  type.mutable_facets()->set_schedule(true);
  type.mutable_facets()->set_client_link(true);
  auto field = [&](const char* name, v1::FieldType field_type) {
    v1::FieldDefinition* f = type.add_fields();
    f->set_name(name);
    f->set_type(field_type);
  };
  field("contract_number", v1::STRING);
  field("station", v1::STRING);
  return type;
}

}  // namespace spotflow::engine
